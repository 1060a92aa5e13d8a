import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentPhase, DESCRIPTION_PREFIX, gauge, PHASES, progressLine, ProgressTracker, type DriverSnapshot, type SparkJob } from '../../src/dev/progress.ts';
import { IMAGES_GAUGE, S3_PROBES_FAILED_GAUGE, S3A_RETRIES_GAUGE } from '../../src/spark/application.ts';
import { REPO_ROOT } from '../../src/paths.ts';

const job = (jobId: number, phase: string, done: number, tasks: number, status = done === tasks ? 'SUCCEEDED' : 'RUNNING'): SparkJob => ({
  jobId,
  description: `${DESCRIPTION_PREFIX}${phase}`,
  status,
  numTasks: tasks,
  numCompletedTasks: done,
  numActiveTasks: status === 'RUNNING' ? Math.min(2, tasks - done) : 0,
});

// As Spark 3.5.8's PrometheusServlet prints an AccumulatorSource gauge, namespace "orchard".
const metrics = (images: number, retries = 0, probesFailed = 0) =>
  [
    `metrics_orchard_driver_AccumulatorSource_${IMAGES_GAUGE}_Number{type="gauges"} ${images}`,
    `metrics_orchard_driver_AccumulatorSource_${IMAGES_GAUGE}_Value{type="gauges"} ${images}`,
    `metrics_orchard_driver_AccumulatorSource_${S3A_RETRIES_GAUGE}_Value{type="gauges"} ${retries}`,
    `metrics_orchard_driver_AccumulatorSource_${S3_PROBES_FAILED_GAUGE}_Value{type="gauges"} ${probesFailed}`,
  ].join('\n');

const inference = (images: number): DriverSnapshot => ({ jobs: [job(3, 'inference', 0, 48)], executions: [], metrics: metrics(images) });
const WRITE_SQL = { id: 9, description: `${DESCRIPTION_PREFIX}write`, status: 'RUNNING', runningJobIds: [] };
const commit = (retries: number): DriverSnapshot => ({ jobs: [job(3, 'inference', 48, 48), job(8, 'write', 4, 4)], executions: [WRITE_SQL], metrics: metrics(3030, retries) });

describe('job progress', () => {
  it('names the phases and gauges that the job publishes', () => {
    const live = readFileSync(join(REPO_ROOT, 'spark-images', 'orchard_featurize', 'live.py'), 'utf8');
    expect(live).toContain(`DESCRIPTION_PREFIX = "${DESCRIPTION_PREFIX}"`);
    expect(live).toContain(`PHASES = (${PHASES.map((p) => `"${p}"`).join(', ')})`);
    expect(live).toContain(`IMAGES_GAUGE = "${IMAGES_GAUGE}"`);
    expect(live).toContain(`S3A_RETRIES_GAUGE = "${S3A_RETRIES_GAUGE}"`);
    expect(live).toContain(`S3_PROBES_FAILED_GAUGE = "${S3_PROBES_FAILED_GAUGE}"`);
  });

  it('reads a gauge whatever the metrics namespace', () => {
    expect(gauge(metrics(1200, 3), IMAGES_GAUGE)).toBe(1200);
    expect(gauge(metrics(1200, 3), S3A_RETRIES_GAUGE)).toBe(3);
    expect(gauge('metrics_app_1234_driver_AccumulatorSource_images_inferred_Value 7', IMAGES_GAUGE)).toBe(7);
    expect(gauge(undefined, IMAGES_GAUGE)).toBeUndefined();
  });

  it('takes the phase from the latest described Spark job, and tells the commit and the record apart', () => {
    expect(currentPhase({ jobs: [{ ...job(0, 'x', 1, 1), description: 'listing' }], executions: [] })).toBeUndefined();
    expect(currentPhase(inference(0))).toMatchObject({ phase: 'inference', tasks: 48 });
    const writing = { jobs: [job(3, 'inference', 48, 48), job(7, 'write', 1, 1), job(8, 'write', 1, 4)], executions: [WRITE_SQL] };
    expect(currentPhase(writing)).toMatchObject({ phase: 'write', tasksDone: 2, tasks: 5, jobs: 2 });
    expect(currentPhase(commit(0))).toMatchObject({ phase: 'commit' });
    expect(currentPhase({ ...commit(0), executions: [{ ...WRITE_SQL, status: 'COMPLETED' }] })).toMatchObject({ phase: 'record' });
    // A write that failed (S3A gave up) stays the write: the job ends there.
    expect(currentPhase({ ...commit(0), jobs: [job(8, 'write', 3, 4, 'FAILED')], executions: [{ ...WRITE_SQL, status: 'FAILED' }] })).toMatchObject({ phase: 'write' });
  });

  it('counts images as inference tasks end, then names each phase with the inference rate kept', () => {
    const t = new ProgressTracker(3030);
    expect(t.observe({ jobs: [], executions: [] }, 0)).toBeUndefined();
    expect(t.observe(inference(0), 1_000)).toBe('[------------------------]  0/3,030 images  0.0 img/s  ETA --');
    expect(t.observe(inference(128), 9_000)).toBe('[#-----------------------]  128/3,030 images  16.0 img/s  ETA 3m01s');
    const written = { jobs: [job(3, 'inference', 48, 48), job(8, 'write', 1, 4)], executions: [WRITE_SQL], metrics: metrics(3030) };
    expect(t.observe(written, 151_000)).toBe('[########################]  3,030/3,030 images  20.2 img/s  done  |  write 1/4 tasks 0s');
    expect(t.observe(written, 171_000)).toBe('[########################]  3,030/3,030 images  20.2 img/s  done  |  write 1/4 tasks 20s');
  });

  it('says when a phase stalls, and on what, and adds the wait on S3 up', () => {
    const t = new ProgressTracker(3030);
    t.observe(inference(3030), 0);
    t.observe(commit(0), 10_000);
    expect(t.observe(commit(0), 69_000)).not.toContain('no progress');
    expect(t.headline).toBe('commit');
    // S3A's retries rise while nothing else moves.
    expect(t.observe(commit(4), 70_000)).toBe('[########################]  3,030/3,030 images  303.0 img/s  done  |  commit 1m00s  |  no progress for 1m00s: waiting on S3 (S3A retried 4 times)');
    expect(t.headline).toBe('commit stalled');
    expect(t.observe(commit(30), 520_000)).toContain('no progress for 8m30s: waiting on S3 (S3A retried 30 times)');
    // The commit ends, the record runs: the 510 s without progress were spent waiting on S3.
    t.observe({ ...commit(30), executions: [{ ...WRITE_SQL, status: 'COMPLETED' }] }, 521_000);
    t.finish(530_000);
    expect(t.s3WaitMs).toBe(511_000);
    expect(t.s3aRetries).toBe(30);
  });

  it("names S3 within seconds when the driver's probes of it fail, as when executors write on Kubernetes", () => {
    const t = new ProgressTracker(3030, 'http://10.88.0.1:9000');
    const writing = (done: number, probesFailed: number): DriverSnapshot => ({ jobs: [job(3, 'inference', 48, 48), job(8, 'write', done, 4)], executions: [WRITE_SQL], metrics: metrics(3030, 0, probesFailed) });
    t.observe(inference(3030), 0);
    t.observe(writing(1, 0), 10_000);
    // Nothing moves for 9 s with one failed probe: not yet a stall.
    expect(t.observe(writing(1, 1), 19_000)).not.toContain('no progress');
    expect(t.observe(writing(1, 2), 20_000)).toBe('[########################]  3,030/3,030 images  303.0 img/s  done  |  write 1/4 tasks 10s  |  no progress for 10s: waiting on S3 at http://10.88.0.1:9000 (it did not answer 2 probes)');
    expect(t.headline).toBe('write stalled');
    // S3 answers again, a task ends: the 32 s without progress were the wait on S3.
    expect(t.observe(writing(2, 6), 42_000)).not.toContain('no progress');
    t.finish(50_000);
    expect(t.s3WaitMs).toBe(32_000);
  });

  it('names running tasks or the driver when S3A is not retrying', () => {
    const t = new ProgressTracker(3030);
    t.observe(inference(1000), 0);
    expect(t.observe(inference(1000), 61_000)).toContain('no progress for 1m01s: 2 tasks running, none finished');
    t.observe(commit(0), 62_000);
    expect(t.observe(commit(0), 125_000)).toContain('no progress for 1m03s: no Spark task running: the driver is working');
    t.finish(126_000);
    expect(t.s3WaitMs).toBe(0);
  });

  it('draws a bar with rate and ETA', () => {
    expect(progressLine(1200, 3030, 60, 10)).toBe('[####------]  1,200/3,030 images  20.0 img/s  ETA 1m32s');
    expect(progressLine(0, 3030, 0, 10)).toBe('[----------]  0/3,030 images  0.0 img/s  ETA --');
    expect(progressLine(3030, 3030, 150, 10)).toBe('[##########]  3,030/3,030 images  20.2 img/s  done');
  });
});
