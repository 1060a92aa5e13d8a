import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { OrchardError } from '../errors.ts';
import { cacheRoot, SHARED_DIR } from '../paths.ts';
import type { Manifest } from './manifest.ts';

/** A CRD orchard depends on, pinned to an upstream release file and its sha256. */
export interface ThirdPartyCrd {
  readonly file: string;
  readonly repository: string;
  readonly path: string;
  readonly tag: string;
  readonly sha256: string;
}

/**
 * The same pins as ../shared/crds/SOURCES.md, kept here too because a machine without ../shared
 * downloads the files from upstream and must still verify them.
 */
export const THIRD_PARTY_CRDS: readonly ThirdPartyCrd[] = [
  {
    file: 'sparkoperator.k8s.io_sparkapplications.yaml',
    repository: 'kubeflow/spark-operator',
    path: 'charts/spark-operator-chart/crds/sparkoperator.k8s.io_sparkapplications.yaml',
    tag: 'v2.5.2',
    sha256: 'ecd9c14fcadb9d5f8ced4c4ee31920548ea53a892e0a69c3e43aa758bfca6d94',
  },
  {
    file: 'sparkoperator.k8s.io_scheduledsparkapplications.yaml',
    repository: 'kubeflow/spark-operator',
    path: 'charts/spark-operator-chart/crds/sparkoperator.k8s.io_scheduledsparkapplications.yaml',
    tag: 'v2.5.2',
    sha256: '5dc6654b2ad9157421ddf177737795420088fbe70338e45602bacf22ce25cc99',
  },
  {
    file: 'monitoring.coreos.com_podmonitors.yaml',
    repository: 'prometheus-operator/prometheus-operator',
    path: 'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml',
    tag: 'v0.93.0',
    sha256: '45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d',
  },
  {
    file: 'monitoring.coreos.com_servicemonitors.yaml',
    repository: 'prometheus-operator/prometheus-operator',
    path: 'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
    tag: 'v0.93.0',
    sha256: 'a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32',
  },
  {
    file: 'monitoring.coreos.com_prometheusrules.yaml',
    repository: 'prometheus-operator/prometheus-operator',
    path: 'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml',
    tag: 'v0.93.0',
    sha256: '78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d',
  },
  {
    file: 'argoproj.io_applications.yaml',
    repository: 'argoproj/argo-cd',
    path: 'manifests/crds/application-crd.yaml',
    tag: 'v3.5.1',
    sha256: '5dde0e229249b6b707beb98674c1deae3949d5c319a6c45b9f5a80c99618e40c',
  },
  {
    file: 'argoproj.io_appprojects.yaml',
    repository: 'argoproj/argo-cd',
    path: 'manifests/crds/appproject-crd.yaml',
    tag: 'v3.5.1',
    sha256: 'ab225266944322750136f1198d93786e4a79a0e43c8d149abfba44da30a3eac8',
  },
];

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function upstreamUrl(crd: ThirdPartyCrd): string {
  return `https://raw.githubusercontent.com/${crd.repository}/${crd.tag}/${crd.path}`;
}

async function download(crd: ThirdPartyCrd): Promise<Buffer> {
  const url = upstreamUrl(crd);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new OrchardError(`could not download ${crd.file} from ${url}`, `put the offline mirror at ${join(SHARED_DIR, 'crds')}, or run where ${new URL(url).host} is reachable`, {}, { cause: error });
  }
  if (!response.ok) throw new OrchardError(`downloading ${url} answered HTTP ${response.status}`, `check that tag ${crd.tag} of ${crd.repository} still has ${crd.path}`);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * The file's bytes, verified against its pin: from ../shared/crds when present, else from the
 * cache, else downloaded from upstream at the pinned tag (and cached).
 */
export async function readThirdPartyCrd(crd: ThirdPartyCrd, sources: { sharedDir?: string; cacheDir?: string } = {}): Promise<Buffer> {
  const shared = join(sources.sharedDir ?? SHARED_DIR, 'crds', crd.file);
  const cached = join(sources.cacheDir ?? join(cacheRoot(), 'crds'), `${crd.repository.replace('/', '_')}-${crd.tag}`, crd.file);
  let source: string;
  let data: Buffer;
  if (existsSync(shared)) {
    source = shared;
    data = await readFile(shared);
  } else if (existsSync(cached)) {
    source = cached;
    data = await readFile(cached);
  } else {
    source = upstreamUrl(crd);
    data = await download(crd);
  }
  const actual = sha256(data);
  if (actual !== crd.sha256) {
    throw new OrchardError(`${crd.file} does not match its pin: sha256 ${actual}, expected ${crd.sha256}`, `the file at ${source} is not ${crd.repository}@${crd.tag}:${crd.path}; restore it, or update the pin in src/api/third-party-crds.ts deliberately`);
  }
  if (source === upstreamUrl(crd)) {
    await mkdir(join(cached, '..'), { recursive: true });
    await writeFile(`${cached}.partial`, data);
    await rename(`${cached}.partial`, cached);
  }
  return data;
}

/** Every pinned third-party CRD as parsed objects. */
export async function thirdPartyCrdManifests(): Promise<Manifest[]> {
  const manifests: Manifest[] = [];
  for (const crd of THIRD_PARTY_CRDS) {
    const text = (await readThirdPartyCrd(crd)).toString('utf8');
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new OrchardError(`${crd.file} is not valid YAML: ${doc.errors[0]?.message}`);
      const object = doc.toJSON() as Manifest | null;
      if (object) manifests.push(object);
    }
  }
  return manifests;
}
