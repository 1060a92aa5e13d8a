import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, PLURAL } from '../../src/api/parquet-output.ts';
import { eventRecorder } from '../../src/controller/events.ts';
import { ControllerMetrics } from '../../src/controller/metrics.ts';
import { observeOutput } from '../../src/controller/observe.ts';
import { outputName, Reconciler } from '../../src/controller/reconcile.ts';
import { kubeRequest } from '../../src/kube/raw.ts';
import { createLogger } from '../../src/log.ts';
import { s3Client } from '../../src/s3/client.ts';
import { writeDataset } from '../support/dataset.ts';
import { freshNamespace, kubeConfig, stack } from '../support/kube.ts';
import { listOutputs } from '../support/outputs.ts';
import { createJob, getJob, setJobState } from '../support/spark-job.ts';

const log = createLogger({ component: 'reconcile-test' }, () => {});

describe('reconciler', () => {
  let kc: KubeConfig;
  let s3: S3Client;

  beforeAll(() => {
    kc = kubeConfig();
    s3 = s3Client(stack().s3);
  });

  afterAll(() => s3?.destroy());

  it('answers a 409 from a stale resourceVersion with a retry from a fresh read, never overwriting the other write', async () => {
    const ns = await freshNamespace(kc, 'rec-conflict');
    const dataset = await writeDataset(s3, stack().s3.bucket, `features/${randomBytes(4).toString('hex')}`, { files: 2, rowsPerFile: 5 });
    await createJob(kc, ns, 'raced', dataset.uri);
    await setJobState(kc, ns, 'raced', 'COMPLETED');
    const app = (await getJob(kc, ns, 'raced'))!;
    const name = outputName({ name: 'raced', uid: app.metadata.uid }, dataset.uri);
    let raced = false;
    const reconciler = new Reconciler({
      kc,
      s3,
      events: eventRecorder(kc, 'test', log),
      metrics: new ControllerMetrics(),
      log,
      // Someone else writes the record between the reconciler's read and its status write.
      observe: async (client, uri) => {
        const observation = await observeOutput(client, uri);
        if (!raced) {
          raced = true;
          const response = await kubeRequest(kc, 'PATCH', `/apis/${API_VERSION}/namespaces/${ns}/${PLURAL}/${name}`, { metadata: { labels: { 'team.example/owner': 'vision' } } }, 'application/merge-patch+json');
          expect(response.status).toBe(200);
        }
        return observation;
      },
    });
    await expect(reconciler.reconcile(`${ns}/raced`, app)).rejects.toMatchObject({ reason: 'Conflict' });
    expect((await listOutputs(kc, ns))[0]!.status).toBeUndefined();
    await reconciler.reconcile(`${ns}/raced`, app);
    const [output] = await listOutputs(kc, ns);
    expect(output!.status!.phase).toBe('Recorded');
    expect(output!.metadata.labels).toMatchObject({ 'team.example/owner': 'vision', 'orchard.fruits.dev/spark-application': 'raced' });
  });
});
