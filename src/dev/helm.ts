import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { bundleDir, installGoBundle, type GoBundle } from './toolchain.ts';
import { HELM_VERSION, KUBERNETES_VERSION } from './versions.ts';

const [kubeMajor, kubeMinor] = KUBERNETES_VERSION.replace(/^v/, '').split('.');

/**
 * Helm's Makefile sets these at release builds: without them `helm version` says v3.20 with no
 * patch, and `helm template`/`helm lint` assume Kubernetes 1.20 instead of the version we run.
 */
const HELM_LDFLAGS = [
  '-s -w',
  `-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}`,
  '-X helm.sh/helm/v3/internal/version.gitTreeState=clean',
  ...['pkg/chartutil', 'pkg/lint/rules'].flatMap((pkg) => [`-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=${kubeMajor}`, `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${kubeMinor}`]),
].join(' ');

const HELM: GoBundle = {
  name: 'helm',
  version: HELM_VERSION,
  module: 'helm',
  commands: { helm: 'helm.sh/helm/v3/cmd/helm' },
  ldflags: HELM_LDFLAGS,
};

/** Where helm is once built; nothing is built here. */
export function helmPath(): string {
  return join(bundleDir(HELM), 'helm');
}

/** Builds helm once per version into the cache (a cold build takes minutes) and returns its path. */
export async function ensureHelm(log: Logger): Promise<string> {
  await installGoBundle(HELM, log);
  return helmPath();
}
