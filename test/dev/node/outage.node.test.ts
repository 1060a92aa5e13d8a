import type { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import type { SparkApplicationObject } from '../../../src/api/spark-application.ts';
import { ProgressTracker } from '../../../src/dev/progress.ts';
import { watchProgress } from '../../../src/dev/progress-watch.ts';
import { s3ServerOutage } from '../../../src/dev/stack.ts';
import { waitForJob } from '../../../src/jobs/wait.ts';
import { applyAll } from '../../../src/kube/apply.ts';
import { podLog } from '../../../src/kube/pod-logs.ts';
import { createLogger } from '../../../src/log.ts';
import { expectEachImageOnce } from '../../support/dataset-column.ts';
import { eventually } from '../../support/kube.ts';
import { eventsFor, listOutputs } from '../../support/outputs.ts';
import { devStage, stageManifests, withSharedNode } from '../../support/node-stage.ts';

const log = createLogger({ component: 'node-outage-test' });
/** A job here starts a driver and two executor JVMs on two shared cores: minutes, not seconds. */
const JOB_TIMEOUT_MS = 900_000;
const IMAGES = 400;
/** How long the first test holds S3 down: the 30 s. */
const OUTAGE_MS = 30_000;

/** The job's progress as `orchard demo` draws it, every line kept. */
function follow(kc: KubeConfig, namespace: string, name: string, endpoint: string) {
  const tracker = new ProgressTracker(IMAGES, endpoint);
  const lines: string[] = [];
  const stop = watchProgress(kc, namespace, name, tracker, (line) => {
    if (lines.at(-1) !== line) lines.push(line);
  });
  return { lines, stop };
}

/**
 * S3 goes down as the job turns from inference to writing: the phases between (PCA, the probe)
 * work on cached features, so the write begins against a stopped server and waits on it.
 */
async function stopS3BeforeTheWrite(lines: readonly string[], outage: ReturnType<typeof s3ServerOutage>): Promise<void> {
  await eventually(async () => (lines.some((line) => /\|\s+(pca|probe|write) /.test(line)) ? true : undefined), JOB_TIMEOUT_MS, 'the job past inference');
  await outage.stop();
  log.info('stopped the S3 server', { lastLine: lines.at(-1) });
}

async function driverLog(kc: KubeConfig, namespace: string, app: SparkApplicationObject): Promise<string> {
  return (await podLog(kc, namespace, app.status!.driverInfo!.podName!, 'spark-kubernetes-driver')) ?? '';
}

/**
 * S3 fails under a running job on the real node: the executors write the dataset, so what the
 * driver can tell of the outage comes from its probes of the endpoint (live.py), and what the user
 * sees is the progress line, the record and the job's own error.
 */
describe('S3 outages under a job on the local Kubernetes node', () => {
  const node = withSharedNode(log);
  let outage: ReturnType<typeof s3ServerOutage> | undefined;
  afterEach(async () => {
    // Whatever failed, the next test (and the node's teardown) finds S3 serving.
    await outage?.start();
  }, 120_000);

  it('rides out 30 s of S3 down during the write: the job completes, the record is exact, and the progress line named the wait', async () => {
    outage = s3ServerOutage(node.state.stateDir);
    const stage = devStage(node.state, { name: 's3-down-30s', limit: IMAGES });
    await applyAll(node.kc, stageManifests(stage));
    const ns = stage.namespace;
    const progress = follow(node.kc, ns, 's3-down-30s', node.state.s3.endpoint);
    try {
      await stopS3BeforeTheWrite(progress.lines, outage);
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      await outage.start();
      log.info('started the S3 server again', { lastLine: progress.lines.at(-1) });
      const outcome = await waitForJob(node.kc, ns, 's3-down-30s', { timeoutMs: JOB_TIMEOUT_MS });
      progress.stop();
      log.info('progress lines', { lines: progress.lines.slice(-12) });
      expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
      expect(outcome.outputs.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', IMAGES]]);
      const stall = new RegExp(`\\|\\s+(write|commit) [^|]*\\|\\s+no progress for \\d+s: waiting on S3 at ${node.state.s3.endpoint.replace(/\./g, '\\.')} \\(it did not answer \\d+ probes?`);
      expect(progress.lines.filter((line) => stall.test(line)), progress.lines.join('\n')).not.toHaveLength(0);
      const said = await driverLog(node.kc, ns, outcome.job);
      expect(said).toMatch(/"event": "s3_not_answering".*"endpoint": "http:/);
      expect(said).toMatch(/"event": "s3_answers_again"/);
      await expectEachImageOnce(node.state.s3, outcome.outputs[0]!.spec.uri, IMAGES);
    } finally {
      progress.stop();
    }
  }, 2 * JOB_TIMEOUT_MS);

  it('fails naming S3 and its endpoint when S3 stays down past the bound, and the retry records the dataset once S3 is back', async () => {
    outage = s3ServerOutage(node.state.stateDir);
    // A bound of seconds instead of 10 minutes: 2 retries 2 s apart, after 1 SDK retry each. Two
    // retries of the job: the first may start before S3 is back (a long attempt is retried at once).
    const stage = devStage(node.state, { name: 's3-down-past-bound', limit: IMAGES, retries: 2, s3Retries: { sdkRetries: 1, retryLimit: 2, retryIntervalMs: 2_000 } });
    await applyAll(node.kc, stageManifests(stage));
    const ns = stage.namespace;
    const progress = follow(node.kc, ns, 's3-down-past-bound', node.state.s3.endpoint);
    const because = `S3 at ${node.state.s3.endpoint} did not answer, and S3A gave up after its retries (fs.s3a.retry.limit 2, fs.s3a.retry.interval 2000ms)`;
    try {
      await stopS3BeforeTheWrite(progress.lines, outage);
      // The attempt fails; its record says why in the job's words, though the retry deletes the driver pod.
      const failing = await eventually(
        async () => (await listOutputs(node.kc, ns)).find((o) => o.spec.source.name === 's3-down-past-bound' && o.status?.conditions?.some((c) => c.reason === 'JobAttemptFailed')),
        JOB_TIMEOUT_MS,
        'the record of the failed attempt',
      );
      log.info('failed attempt', { record: failing.status?.conditions });
      expect(failing.status!.conditions!.find((c) => c.type === 'Complete')!.message).toContain(because);
      await outage.start();
      log.info('started the S3 server again');

      const outcome = await waitForJob(node.kc, ns, 's3-down-past-bound', { timeoutMs: JOB_TIMEOUT_MS });
      expect(outcome.job.status?.applicationState?.state).toBe('COMPLETED');
      expect(outcome.job.status?.submissionAttempts).toBeGreaterThanOrEqual(2);
      const records = (await listOutputs(node.kc, ns)).filter((o) => o.spec.source.name === 's3-down-past-bound');
      expect(records.map((o) => [o.status?.phase, o.status?.rows])).toEqual([['Recorded', IMAGES]]);
      await expectEachImageOnce(node.state.s3, records[0]!.spec.uri, IMAGES);
      // What `kubectl describe sparkapplication` shows once the retry ran: each failed attempt in the
      // job's words (the operator's own status keeps an exit code, and only until the retry), and one record.
      const events = await eventsFor(node.kc, ns, 's3-down-past-bound');
      const attempts = events.filter((e) => e.reason === 'JobAttemptFailed').map((e) => e.message);
      expect(attempts).toHaveLength(outcome.job.status!.submissionAttempts! - 1);
      for (const message of attempts) expect(message).toContain(`S3 at ${node.state.s3.endpoint} did not answer, and S3A gave up`);
      expect(events.filter((e) => e.reason === 'OutputRecorded')).toHaveLength(1);
    } finally {
      progress.stop();
    }
  }, 3 * JOB_TIMEOUT_MS);
});
