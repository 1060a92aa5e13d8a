import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { OrchardError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { cacheRoot } from '../../paths.ts';
import { bundleDir, goEnv, installGoBundle, installOnce, kubernetesBinary, type GoBundle } from '../toolchain.ts';
import { COREDNS_VERSION, SPARK_OPERATOR_VERSION } from '../versions.ts';

/** CGO off: these two run in images that hold nothing but the binary. */
const STATIC = { CGO_ENABLED: '0' };

const COREDNS: GoBundle = {
  name: 'coredns',
  version: COREDNS_VERSION,
  module: 'coredns',
  commands: { coredns: '.' },
  ldflags: '-s -w',
  env: STATIC,
};

const PAUSE: GoBundle = { name: 'pause', version: 'v1', module: 'pause', commands: { pause: '.' }, ldflags: '-s -w', env: STATIC };

const OPERATOR_MODULE = 'github.com/kubeflow/spark-operator/v2';

/** What the node runs besides the control plane, once built. */
export interface NodeBinaries {
  readonly kubelet: string;
  readonly kubeScheduler: string;
  readonly kubeProxy: string;
  readonly coredns: string;
  readonly pause: string;
  readonly sparkOperator: string;
  /** The operator module's source: its Helm chart and CRDs install it on the node. */
  readonly sparkOperatorSource: string;
}

function operatorDir(): string {
  return join(cacheRoot(), 'bin', `spark-operator-${SPARK_OPERATOR_VERSION}`);
}

/** Where the node's binaries are once built; nothing is built or checked here. */
export function nodeBinaries(): NodeBinaries {
  return {
    kubelet: kubernetesBinary('kubelet'),
    kubeScheduler: kubernetesBinary('kube-scheduler'),
    kubeProxy: kubernetesBinary('kube-proxy'),
    coredns: join(bundleDir(COREDNS), 'coredns'),
    pause: join(bundleDir(PAUSE), 'pause'),
    sparkOperator: join(operatorDir(), 'spark-operator'),
    sparkOperatorSource: join(operatorDir(), 'source'),
  };
}

/**
 * The operator's go.mod has `replace` lines, which `go install module@version` refuses, so its
 * module is downloaded, copied out of the read-only module cache and built in place, as its own
 * Makefile does.
 */
async function copyOperatorSource(target: string): Promise<void> {
  const download = spawnSync('go', ['mod', 'download', '-json', `${OPERATOR_MODULE}@${SPARK_OPERATOR_VERSION}`], { env: goEnv(), encoding: 'utf8' });
  const dir = download.status === 0 ? (JSON.parse(download.stdout) as { Dir?: string }).Dir : undefined;
  if (!dir) {
    throw new OrchardError(`downloading ${OPERATOR_MODULE}@${SPARK_OPERATOR_VERSION} failed`, 'check that the Go module proxy is reachable (go env GOPROXY), then run the setup again', {
      output: `${download.stdout}${download.stderr}`.trim(),
    });
  }
  await cp(dir, target, { recursive: true });
  spawnSync('chmod', ['-R', 'u+w', target]);
}

async function ensureSparkOperator(log: Logger): Promise<void> {
  const binaries = nodeBinaries();
  await installOnce(operatorDir(), `spark-operator-${SPARK_OPERATOR_VERSION}`, log, () => existsSync(binaries.sparkOperator) && existsSync(binaries.sparkOperatorSource), (staging) => {
    const source = join(staging, 'source');
    return [
      {
        what: `spark-operator ${SPARK_OPERATOR_VERSION}`,
        args: ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(staging, 'spark-operator'), './cmd/operator'],
        cwd: source,
        env: STATIC,
        prepare: () => copyOperatorSource(source),
      },
    ];
  });
}

/** Builds, once per version, what the node runs besides the control plane (the control plane's module gives kubelet, kube-scheduler, kube-proxy). */
export async function ensureNodeBinaries(log: Logger): Promise<NodeBinaries> {
  await installGoBundle(COREDNS, log);
  await installGoBundle(PAUSE, log);
  await ensureSparkOperator(log);
  return nodeBinaries();
}

