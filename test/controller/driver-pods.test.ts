import { describe, expect, it } from 'vitest';
import { SPARK_CONTAINER } from '../../src/api/spark-application.ts';
import { driverPodFields, FailedDrivers, type DriverPod } from '../../src/controller/driver-pods.ts';

const FAILED_LINE = '{"ts": 1.0, "level": "error", "event": "failed", "error": "S3 at http://10.88.0.1:9000 did not answer"}';

const pod = (uid: string, terminated?: { exitCode: number; message?: string }): DriverPod =>
  ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'job-a-driver', namespace: 'orchard', uid, resourceVersion: '7', labels: { 'spark-role': 'driver', 'sparkoperator.k8s.io/app-name': 'job-a', other: 'x' } },
    spec: { containers: [{ name: SPARK_CONTAINER.driver, image: 'big' }] },
    status: {
      phase: terminated ? 'Failed' : 'Running',
      containerStatuses: [{ name: SPARK_CONTAINER.driver, image: 'big', state: terminated ? { terminated } : { running: { startedAt: 'now' } } }],
    },
  }) as unknown as DriverPod;

describe('failed driver pods', () => {
  it('keeps only the application and how the driver container ended', () => {
    expect(driverPodFields(pod('u1', { exitCode: 1, message: FAILED_LINE }))).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job-a-driver', namespace: 'orchard', uid: 'u1', resourceVersion: '7', labels: { 'sparkoperator.k8s.io/app-name': 'job-a' } },
      status: { containerStatuses: [{ name: SPARK_CONTAINER.driver, state: { terminated: { exitCode: 1, message: FAILED_LINE } } }] },
    });
  });

  it("remembers each job's last failure past its pod's deletion, and names the job once per change", () => {
    const drivers = new FailedDrivers();
    expect(drivers.observe(driverPodFields(pod('u1')))).toBeUndefined();
    expect(drivers.observe(driverPodFields(pod('u1', { exitCode: 0 })))).toBeUndefined();
    expect(drivers.observe(driverPodFields(pod('u1', { exitCode: 1, message: FAILED_LINE })))).toBe('orchard/job-a');
    // The same state again (a resync, then the pod's deletion): nothing new to reconcile.
    expect(drivers.observe(driverPodFields(pod('u1', { exitCode: 1, message: FAILED_LINE })))).toBeUndefined();
    expect(drivers.errorOf('orchard/job-a')).toBe('S3 at http://10.88.0.1:9000 did not answer');
    // The retry's driver fails otherwise: its words replace the first attempt's.
    expect(drivers.observe(driverPodFields(pod('u2', { exitCode: 1, message: 'Traceback\nRuntimeError: boom' })))).toBe('orchard/job-a');
    expect(drivers.errorOf('orchard/job-a')).toBe('Traceback\nRuntimeError: boom');
    drivers.forget('orchard/job-a');
    expect(drivers.errorOf('orchard/job-a')).toBeUndefined();
  });
});
