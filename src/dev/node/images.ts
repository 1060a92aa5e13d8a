import { existsSync } from 'node:fs';
import { DEV_IMAGES } from '../../../cdk8s/stages.ts';
import type { Logger } from '../../log.ts';
import { EMR_SPARK_UID } from '../../spark/application.ts';
import { buildFilesImage, filesImageArchive, imageArchivePaths, type BuiltImage, type FilesImageSpec } from '../images.ts';
import { COREDNS_VERSION, SPARK_OPERATOR_VERSION } from '../versions.ts';
import { nodeBinaries, type NodeBinaries } from './binaries.ts';

type NodeImageName = 'pause' | 'coredns' | 'sparkOperator';

/**
 * The node's own images, from binaries built here since the upstream images cannot be pulled:
 * pause and CoreDNS `FROM scratch`, and the spark-operator as its upstream Dockerfile makes it (a
 * Spark image, since the operator runs spark-submit in its pod, the binary, tini as PID 1).
 */
function specs(binaries: Pick<NodeBinaries, 'pause' | 'coredns' | 'sparkOperator'>): Record<NodeImageName, FilesImageSpec> {
  return {
    // 65535: the uid of the upstream pause image.
    pause: { name: 'pause', ref: 'docker.io/orchard/pause:v1', files: [{ from: binaries.pause, to: '/pause', mode: 0o755 }], entrypoint: ['/pause'], user: '65535:65535' },
    coredns: { name: 'coredns', ref: `docker.io/orchard/coredns:${COREDNS_VERSION}`, files: [{ from: binaries.coredns, to: '/coredns', mode: 0o755 }], entrypoint: ['/coredns'], user: '65532:65532' },
    sparkOperator: {
      name: 'spark-operator',
      base: 'spark-base',
      ref: `${DEV_IMAGES.registry}/orchard/spark-operator:${SPARK_OPERATOR_VERSION}`,
      files: [{ from: binaries.sparkOperator, to: '/usr/bin/spark-operator', mode: 0o755 }],
      entrypoint: ['/usr/bin/tini', '-s', '--', '/usr/bin/spark-operator'],
      // Numeric, so that the chart's runAsNonRoot can be checked: the base's runtime user.
      user: String(EMR_SPARK_UID),
    },
  };
}

/** Where the node's images are once built; nothing is built here. */
export function nodeImageArchives(binaries: Pick<NodeBinaries, 'pause' | 'coredns' | 'sparkOperator'>): Record<NodeImageName, BuiltImage> {
  const all = specs(binaries);
  return { pause: filesImageArchive(all.pause), coredns: filesImageArchive(all.coredns), sparkOperator: filesImageArchive(all.sparkOperator) };
}

/** Builds (once per binary and base) the node's images as OCI archives named for what its pods reference. */
export async function ensureNodeImages(binaries: Pick<NodeBinaries, 'pause' | 'coredns' | 'sparkOperator'>, log: Logger): Promise<Record<NodeImageName, BuiltImage>> {
  const all = specs(binaries);
  return { pause: await buildFilesImage(all.pause, log), coredns: await buildFilesImage(all.coredns, log), sparkOperator: await buildFilesImage(all.sparkOperator, log) };
}

/** The archives' paths for the setup's table: none until the binaries and the Spark base's inputs exist (a cold machine). */
export function nodeImageArchivePaths(): string[] {
  const binaries = nodeBinaries();
  if (!Object.values(binaries).every((path) => existsSync(path)) || imageArchivePaths().length === 0) return [];
  return Object.values(nodeImageArchives(binaries)).map((image) => image.archive);
}
