import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { JOB_LABEL } from '../api/parquet-output.ts';
import type { Logger } from '../log.ts';
import { s3Client, type S3Settings } from '../s3/client.ts';
import { eventRecorder } from './events.ts';
import { Informer, type InformerOptions } from '../kube/informer.ts';
import { DRIVER_POD_SELECTOR, driverPodFields, FailedDrivers, podsPath, type DriverPod } from './driver-pods.ts';
import { LeaderElector, type LeaseTimings } from '../kube/lease.ts';
import { ControllerMetrics } from './metrics.ts';
import { observeOutput } from './observe.ts';
import { ExponentialBackoff, RetryableError, WorkQueue } from '../kube/queue.ts';
import { Reconciler } from './reconcile.ts';
import { startProbeServer } from './server.ts';
import { sparkApplicationsPath, type SparkApplicationObject } from '../api/spark-application.ts';
import { LEASE_NAME } from '../api/controller.ts';

export const CONTROLLER_DEFAULTS = {
  /** Reconciles read S3 and wait on it; a few run side by side without loading the API server. */
  workers: 4,
  port: 8080,
  /** In-flight reconciles get this long to finish on SIGTERM before the lease is released anyway. */
  drainMs: 10_000,
} as const;

export interface ControllerOptions {
  readonly kc: KubeConfig;
  /** Namespace whose SparkApplications are watched; all namespaces when unset. */
  readonly namespace?: string;
  /** Where the leader Lease lives (the controller's own namespace). */
  readonly leaseNamespace: string;
  readonly leaseName?: string;
  /** Unique per replica; client-go uses hostname plus a UUID so a restarted pod is a new candidate. */
  readonly identity?: string;
  readonly s3: S3Settings;
  readonly workers?: number;
  readonly port?: number;
  readonly host?: string;
  readonly log: Logger;
  readonly informer?: Partial<Omit<InformerOptions, 'kc' | 'path' | 'log' | 'labelSelector' | 'observer' | 'transform'>>;
  readonly lease?: Partial<LeaseTimings>;
  readonly backoff?: { readonly baseMs?: number; readonly capMs?: number };
  /** Called once the probe server listens, with its port (0 in options picks a free one). */
  readonly onListening?: (port: number) => void;
}

export type ControllerExit = 'stopped' | 'lost-leadership';

/** kubectl apply's copy of the whole object, as an annotation: as large as the spec, and never read here. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the controller keeps of each watched SparkApplication: metadata without managedFields or
 * kubectl's last-applied copy, and status. The spec (Spark conf, pod templates) is never read, and
 * with it dropped the cache of 1,000 jobs is a fraction of the size.
 */
export function cachedFields(app: SparkApplicationObject): SparkApplicationObject {
  const { managedFields: _managedFields, annotations, ...metadata } = app.metadata as SparkApplicationObject['metadata'] & { managedFields?: unknown };
  const { [LAST_APPLIED]: _lastApplied, ...kept } = annotations ?? {};
  return {
    apiVersion: app.apiVersion,
    kind: app.kind,
    metadata: { ...metadata, ...(annotations ? { annotations: kept } : {}) },
    ...(app.status ? { status: app.status } : {}),
  };
}

/**
 * Runs the controller until `signal` aborts (graceful: drain, release the lease) or leadership is
 * lost (the caller exits, as client-go's controllers do, so a stale leader never writes).
 */
export async function runController(options: ControllerOptions, signal: AbortSignal): Promise<ControllerExit> {
  const log = options.log;
  const identity = options.identity ?? `${hostname()}_${randomUUID()}`;
  const metrics = new ControllerMetrics();
  const queue = new WorkQueue(new ExponentialBackoff(options.backoff?.baseMs, options.backoff?.capMs), metrics.queueObserver());
  const s3 = s3Client(options.s3);
  const failedDrivers = new FailedDrivers();
  const reconciler = new Reconciler({ kc: options.kc, s3, observe: observeOutput, events: eventRecorder(options.kc, identity, log), metrics, log, driverError: (job) => failedDrivers.errorOf(job) });
  const informer = new Informer<SparkApplicationObject>(
    { ...options.informer, kc: options.kc, path: sparkApplicationsPath(options.namespace), labelSelector: JOB_LABEL, log, observer: metrics.informerObserver(), transform: cachedFields },
    (event) => {
      if (event.type === 'delete') failedDrivers.forget(event.key);
      queue.add(event.key);
    },
  );
  // A failed driver's words, caught before a retry deletes its pod; its job is reconciled with them.
  const drivers = new Informer<DriverPod>(
    { ...options.informer, kc: options.kc, path: podsPath(options.namespace), labelSelector: DRIVER_POD_SELECTOR, log, transform: driverPodFields },
    (event) => {
      const job = failedDrivers.observe(event.object);
      if (job) queue.add(job);
    },
  );

  const stopping = new AbortController();
  const onStop = () => stopping.abort();
  signal.addEventListener('abort', onStop);
  let healthy = true;
  const { server, port } = await startProbeServer(options.port ?? CONTROLLER_DEFAULTS.port, options.host ?? '0.0.0.0', metrics.registry, {
    healthy: () => healthy,
    ready: () => (informer.hasSynced && drivers.hasSynced ? { ok: true, detail: `synced; leader: ${elector.isLeader()}` } : { ok: false, detail: `${informer.hasSynced ? 'driver pod' : 'SparkApplication'} cache not synced yet` }),
    beforeScrape: () => metrics.observeJobs(informer.list(), Date.now()),
  });
  options.onListening?.(port);
  log.info('controller starting', { identity, namespace: options.namespace ?? '(all)', port, s3Endpoint: options.s3.endpoint ?? '(AWS)' });

  const informerDone = informer.run(stopping.signal);
  const driversDone = drivers.run(stopping.signal);
  const inFlight = new Set<Promise<void>>();

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = process.hrtime.bigint();
      const work = reconciler.reconcile(key, informer.get(key)).then(
        () => {
          queue.forget(key);
          metrics.reconciles.inc({ result: 'success' });
        },
        (error: unknown) => {
          const reason = error instanceof RetryableError ? error.reason : 'Unexpected';
          const delay = queue.addRateLimited(key);
          metrics.reconciles.inc({ result: reason === 'Conflict' ? 'conflict' : 'error' });
          metrics.reconcileErrors.inc({ reason });
          const fields = { job: key, reason, error: error instanceof Error ? error.message : String(error), retryInMs: delay, retries: queue.backoff.retries(key) };
          if (error instanceof RetryableError) log.warn('reconcile failed; retrying', fields);
          else log.error('reconcile failed unexpectedly; retrying', { ...fields, stack: (error as Error).stack });
        },
      );
      inFlight.add(work);
      await work;
      inFlight.delete(work);
      metrics.reconcileDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
      queue.done(key);
    }
  };

  const electorStop = new AbortController();
  const elector = new LeaderElector({ kc: options.kc, namespace: options.leaseNamespace, name: options.leaseName ?? LEASE_NAME, identity, log, ...options.lease });
  let workers: Promise<void>[] = [];
  let lost = false;
  const electing = elector.run(electorStop.signal, {
    onStartedLeading: () => {
      metrics.leader.set(1);
      log.info('leading: reconciling', { identity });
      // Objects cached while standing by were queued already; re-queue all in case the queue missed any.
      for (const app of informer.list()) queue.add(`${app.metadata.namespace}/${app.metadata.name}`);
      workers = Array.from({ length: options.workers ?? CONTROLLER_DEFAULTS.workers }, () => worker());
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      if (!stopping.signal.aborted) {
        lost = true;
        healthy = false;
        log.error('leadership lost: stopping so that only the new leader writes', { identity });
        stopping.abort();
      }
    },
    onNewLeader: (leader) => log.info('leader observed', { leader }),
  });

  await new Promise<void>((resolveStop) => (stopping.signal.aborted ? resolveStop() : stopping.signal.addEventListener('abort', () => resolveStop(), { once: true })));
  signal.removeEventListener('abort', onStop);
  log.info('controller stopping', { identity, reason: lost ? 'lost-leadership' : 'signal', inFlight: inFlight.size });
  queue.shutDown();
  // Finish what is being written before letting another replica lead.
  await Promise.race([Promise.allSettled([...inFlight, ...workers]), new Promise((r) => setTimeout(r, CONTROLLER_DEFAULTS.drainMs).unref())]);
  electorStop.abort();
  await electing;
  await informerDone;
  await driversDone;
  s3.destroy();
  const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  server.closeAllConnections();
  await closed;
  log.info('controller stopped', { identity });
  return lost ? 'lost-leadership' : 'stopped';
}
