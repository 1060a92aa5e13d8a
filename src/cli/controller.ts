import type { Command } from 'commander';
import { LEASE_NAME } from '../api/controller.ts';
import { CONTROLLER_DEFAULTS, runController } from '../controller/controller.ts';
import { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS } from '../kube/lease.ts';
import { ExponentialBackoff } from '../kube/queue.ts';
import { log } from '../log.ts';
import { clusterOptions, connect, type ClusterOptions } from './cluster.ts';
import { abortOnSignals, EXIT, runCommand } from './exit.ts';
import { integerFlag, secondsFlag } from './flags.ts';

interface ControllerFlags extends ClusterOptions {
  readonly namespace?: string;
  readonly leaseNamespace?: string;
  readonly leaseName: string;
  readonly id?: string;
  readonly port: string;
  readonly workers: string;
  readonly s3Endpoint?: string;
  readonly leaseDuration: string;
  readonly renewDeadline: string;
  readonly retryPeriod: string;
  readonly maxRetryDelay: string;
}

export function registerController(program: Command): void {
  clusterOptions(
    program
      .command('controller')
      .description('watch SparkApplications labelled orchard.fruits.dev/job and record each Parquet output as a ParquetOutput (leader-elected; serves /healthz, /readyz, /metrics)')
      .option('-n, --namespace <ns>', 'watch SparkApplications in this namespace only (env ORCHARD_WATCH_NAMESPACE; default: all namespaces)', process.env.ORCHARD_WATCH_NAMESPACE)
      .option('--lease-namespace <ns>', "namespace of the leader Lease (env POD_NAMESPACE; default: the pod's or the context's namespace)", process.env.POD_NAMESPACE)
      .option('--lease-name <name>', 'name of the leader Lease', LEASE_NAME)
      .option('--id <identity>', 'this replica\'s identity in the Lease (default: hostname_uuid)')
      .option('--port <port>', 'port of /healthz, /readyz and /metrics (0 picks a free one)', String(CONTROLLER_DEFAULTS.port))
      .option('--workers <n>', 'reconciles run side by side', String(CONTROLLER_DEFAULTS.workers))
      .option('--lease-duration <s>', 'seconds a standby waits before taking over a silent leader (client-go default)', String(DEFAULT_LEASE_DURATION_MS / 1000))
      .option('--renew-deadline <s>', 'seconds the leader keeps retrying a failed renewal before it stops', String(DEFAULT_RENEW_DEADLINE_MS / 1000))
      .option('--retry-period <s>', 'seconds between leader election attempts', String(DEFAULT_RETRY_PERIOD_MS / 1000))
      .option('--max-retry-delay <s>', 'cap of the exponential backoff of a failing reconcile', String(new ExponentialBackoff().capMs / 1000))
      .option('--s3-endpoint <url>', 'S3 endpoint for non-AWS S3 (env ORCHARD_S3_ENDPOINT; default: AWS with the default credential chain)'),
  ).action((flags: ControllerFlags) =>
    runCommand(async () => {
      const port = integerFlag('--port', flags.port, 0);
      const workers = integerFlag('--workers', flags.workers, 1);
      const lease = { leaseDurationMs: secondsFlag('--lease-duration', flags.leaseDuration), renewDeadlineMs: secondsFlag('--renew-deadline', flags.renewDeadline), retryPeriodMs: secondsFlag('--retry-period', flags.retryPeriod) };
      const maxRetryDelayMs = secondsFlag('--max-retry-delay', flags.maxRetryDelay);
      const cluster = await connect(flags);
      const signal = abortOnSignals(log);
      const exit = await runController(
        {
          kc: cluster.kc,
          ...(flags.namespace ? { namespace: flags.namespace } : {}),
          leaseNamespace: flags.leaseNamespace ?? cluster.namespace,
          leaseName: flags.leaseName,
          ...(flags.id ? { identity: flags.id } : {}),
          s3: flags.s3Endpoint ? { ...cluster.s3, endpoint: flags.s3Endpoint } : cluster.s3,
          port,
          workers,
          lease,
          backoff: { capMs: maxRetryDelayMs },
          log,
        },
        signal,
      );
      return exit === 'lost-leadership' ? EXIT.failed : EXIT.ok;
    }),
  );
}
