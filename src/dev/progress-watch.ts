import type { KubeConfig } from '@kubernetes/client-node';
import { sparkApplicationsPath, type SparkApplicationObject } from '../api/spark-application.ts';
import { kubeRequest } from '../kube/raw.ts';
import { readDriver, type ProgressTracker } from './progress.ts';

/**
 * Follows a running SparkApplication's driver: once the operator names the driver UI's address
 * (`status.driverInfo.webUIAddress`), reads it every `intervalMs` into `tracker` and hands each
 * line, with the tracker's headline, to `onLine`. Returns the function that stops it.
 */
export function watchProgress(kc: KubeConfig, namespace: string, name: string, tracker: ProgressTracker, onLine: (line: string, headline: string) => void, intervalMs = 1_000): () => void {
  let uiAddress: string | undefined;
  // A slow driver answers after the next tick: one read at a time keeps the snapshots in order.
  let reading = false;
  const ticker = setInterval(() => {
    if (reading) return;
    reading = true;
    void (async () => {
      if (!uiAddress) {
        const response = await kubeRequest(kc, 'GET', `${sparkApplicationsPath(namespace)}/${name}`).catch(() => undefined);
        if (response?.status === 200) uiAddress = (JSON.parse(response.body) as SparkApplicationObject).status?.driverInfo?.webUIAddress;
        if (!uiAddress) return;
      }
      const snapshot = await readDriver(uiAddress);
      const line = snapshot && tracker.observe(snapshot, Date.now());
      if (line) onLine(line, tracker.headline);
    })().finally(() => {
      reading = false;
    });
  }, intervalMs);
  return () => clearInterval(ticker);
}
