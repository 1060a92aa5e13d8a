/**
 * S3A and committer settings for the feature-extraction job, in one place: the cdk8s construct
 * (through sparkApplicationFor), the benchmark's local runs and the tests all render them from here.
 */
import { OrchardError } from '../errors.ts';

export interface S3aOptions {
  /** Custom endpoint for non-AWS S3 (a local server); unset on AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Static keys, for local servers only; on EKS credentials come from IRSA (web identity). */
  readonly staticCredentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Cores per executor: S3A's upload and connection pools are sized from it. */
  readonly executorCores: number;
  /** How long the job waits out a failing S3, field by field over S3A_RETRIES. @default S3A_RETRIES */
  readonly retries?: Partial<S3aRetrySettings>;
}

/** The Spark settings Spark's cloud-integration guide names for the S3A magic committer. */
export const MAGIC_COMMITTER_SPARK_CONF: Readonly<Record<string, string>> = {
  'spark.sql.sources.commitProtocolClass': 'org.apache.spark.internal.io.cloud.PathOutputCommitProtocol',
  'spark.sql.parquet.output.committer.class': 'org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter',
};

/**
 * How S3A waits out a failing store: hadoop-aws 3.3.4 with the AWS SDK v1 (1.12.262) it is built
 * against. Each S3A attempt is one SDK call, which retries by itself first (full-jitter backoff,
 * 100 ms x 2^n, at most 20 s a sleep); when the SDK gives up, S3A's policy sleeps a fixed interval
 * and calls again, or, for 503 SlowDown, sleeps interval x 2^(n+1) x [0.5, 1.5).
 */
export interface S3aRetrySettings {
  /** `fs.s3a.attempts.maximum`: the SDK's retries inside one S3A attempt. */
  readonly sdkRetries: number;
  /** `fs.s3a.retry.limit`: S3A's retries after the SDK gave up (connection refused, 500, reset). */
  readonly retryLimit: number;
  /** `fs.s3a.retry.interval`: the fixed sleep before each of those. */
  readonly retryIntervalMs: number;
  /** `fs.s3a.retry.throttle.limit`: S3A's retries of a throttled (503) call. */
  readonly throttleRetryLimit: number;
  /** `fs.s3a.retry.throttle.interval`: the base of their exponential sleep. */
  readonly throttleRetryIntervalMs: number;
  /** `fs.s3a.connection.establish.timeout`: one TCP connect, before the SDK counts it failed. */
  readonly establishTimeoutMs: number;
  /** `fs.s3a.connection.timeout`: the longest silence on an open connection. */
  readonly socketTimeoutMs: number;
}

/** hadoop-aws 3.3.4's own values (core-default.xml): between 3.5 s and 35 min of outage, by chance. */
export const HADOOP_AWS_DEFAULT_RETRIES: S3aRetrySettings = {
  sdkRetries: 20,
  retryLimit: 7,
  retryIntervalMs: 500,
  throttleRetryLimit: 20,
  throttleRetryIntervalMs: 100,
  establishTimeoutMs: 5_000,
  socketTimeoutMs: 200_000,
};

/**
 * orchard's values. A job that gives up has to infer again (an hour at full scale), so it rides
 * out 10 minutes of outage for certain (40 x 15 s), and the SDK's part stays small (5 retries, at
 * most 3.1 s of sleep) so that the fixed interval, not the jitter, sets the bound. 503 SlowDown
 * gets 10 retries, 1.7 to 5.1 min: throttling that outlasts that wants fewer executors, not patience.
 * A connection that S3 accepts but never answers is cut after 60 s (S3 answers in seconds and keeps
 * long CompleteMultipartUpload calls alive with whitespace), not hadoop-aws's 200 s.
 */
export const S3A_RETRIES: S3aRetrySettings = {
  sdkRetries: 5,
  retryLimit: 40,
  retryIntervalMs: 15_000,
  throttleRetryLimit: 10,
  throttleRetryIntervalMs: 100,
  establishTimeoutMs: 5_000,
  socketTimeoutMs: 60_000,
};

const RETRY_KEYS: Readonly<Record<keyof S3aRetrySettings, string>> = {
  sdkRetries: 'fs.s3a.attempts.maximum',
  retryLimit: 'fs.s3a.retry.limit',
  retryIntervalMs: 'fs.s3a.retry.interval',
  throttleRetryLimit: 'fs.s3a.retry.throttle.limit',
  throttleRetryIntervalMs: 'fs.s3a.retry.throttle.interval',
  establishTimeoutMs: 'fs.s3a.connection.establish.timeout',
  socketTimeoutMs: 'fs.s3a.connection.timeout',
};

/** What is wrong with retry overrides: each is a whole number, the counts at least 0, the times at least 1 ms. */
export function s3aRetryProblems(retries: Partial<S3aRetrySettings>): string[] {
  const counts: readonly (keyof S3aRetrySettings)[] = ['sdkRetries', 'retryLimit', 'throttleRetryLimit'];
  return Object.entries(retries).flatMap(([field, value]) => {
    if (!(field in RETRY_KEYS)) return [`s3Retries.${field} is not a retry setting: use one of ${Object.keys(RETRY_KEYS).join(', ')}`];
    const least = counts.includes(field as keyof S3aRetrySettings) ? 0 : 1;
    return Number.isInteger(value) && (value as number) >= least ? [] : [`s3Retries.${field} is ${String(value)}: it must be a whole number >= ${least} (${RETRY_KEYS[field as keyof S3aRetrySettings]})`];
  });
}

/** The settings as Hadoop reads them: 3.3.4 takes both timeouts as plain milliseconds, the intervals as durations. */
function retryConf(s: S3aRetrySettings): Record<string, string> {
  return {
    [RETRY_KEYS.sdkRetries]: String(s.sdkRetries),
    [RETRY_KEYS.retryLimit]: String(s.retryLimit),
    [RETRY_KEYS.retryIntervalMs]: `${s.retryIntervalMs}ms`,
    [RETRY_KEYS.throttleRetryLimit]: String(s.throttleRetryLimit),
    [RETRY_KEYS.throttleRetryIntervalMs]: `${s.throttleRetryIntervalMs}ms`,
    [RETRY_KEYS.establishTimeoutMs]: String(s.establishTimeoutMs),
    [RETRY_KEYS.socketTimeoutMs]: String(s.socketTimeoutMs),
  };
}

/** The retry settings back out of a rendered hadoopConf, so a bound is computed from what is deployed. */
export function s3aRetrySettings(conf: Readonly<Record<string, string>>): S3aRetrySettings {
  const read = (field: keyof S3aRetrySettings): number => {
    const raw = conf[RETRY_KEYS[field]];
    const match = raw === undefined ? null : /^(\d+)(ms|s)?$/.exec(raw);
    if (!match) throw new OrchardError(`hadoopConf ${RETRY_KEYS[field]} is ${raw === undefined ? 'missing' : `"${raw}"`}`, 'render the S3A settings with s3aHadoopConf (src/spark/s3a.ts), which sets every retry setting');
    return Number(match[1]) * (match[2] === 's' ? 1000 : 1);
  };
  return Object.fromEntries(Object.keys(RETRY_KEYS).map((k) => [k, read(k as keyof S3aRetrySettings)])) as unknown as S3aRetrySettings;
}

/** AWS SDK v1's backoff (PredefinedBackoffStrategies.SDKDefaultBackoffStrategy): base x 2^n, at most 20 s. */
const SDK_BASE_MS = 100;
const SDK_THROTTLED_BASE_MS = 500;
const SDK_MAX_BACKOFF_MS = 20_000;

function sdkSleepCeilingMs(retries: number, base: number): number {
  let total = 0;
  for (let n = 0; n < retries; n++) total += Math.min(base * 2 ** Math.min(n, 30), SDK_MAX_BACKOFF_MS);
  return total;
}

/** How long an operation keeps trying when S3 fails, in seconds; every figure is a bound, not a typical value. */
export interface OutageBudget {
  /** An outage at least this long is ridden out whatever the jitter (connections refused at once). */
  readonly ridesOutS: number;
  /** ...and the operation has given up by this time into an outage that has not ended. */
  readonly givesUpWithinS: number;
  /** The same two when connections time out instead (the endpoint's address black-holed). */
  readonly unreachableRidesOutS: number;
  readonly unreachableGivesUpWithinS: number;
  /** 503 SlowDown on every call: given up after at least, and at most, this long. */
  readonly throttledGivesUpAfterS: number;
  readonly throttledGivesUpWithinS: number;
}

export function s3aOutageBudget(s: S3aRetrySettings): OutageBudget {
  const attempts = s.retryLimit + 1;
  const httpTries = attempts * (s.sdkRetries + 1);
  const fixed = s.retryLimit * s.retryIntervalMs;
  const jitter = attempts * sdkSleepCeilingMs(s.sdkRetries, SDK_BASE_MS);
  const connects = httpTries * s.establishTimeoutMs;
  // Hadoop's exponentialBackoffRetry: interval x 2^(n+1), times a uniform factor in [0.5, 1.5).
  let throttled = 0;
  for (let n = 0; n < s.throttleRetryLimit; n++) throttled += s.throttleRetryIntervalMs * 2 ** (n + 1);
  // The SDK's own throttled retries: equal jitter, between half and all of base x 2^n.
  const sdkThrottled = (s.throttleRetryLimit + 1) * sdkSleepCeilingMs(s.sdkRetries, SDK_THROTTLED_BASE_MS);
  const seconds = (ms: number) => Math.round(ms / 100) / 10;
  return {
    ridesOutS: seconds(fixed),
    givesUpWithinS: seconds(fixed + jitter),
    unreachableRidesOutS: seconds(fixed + connects),
    unreachableGivesUpWithinS: seconds(fixed + connects + jitter),
    throttledGivesUpAfterS: seconds(0.5 * throttled + 0.5 * sdkThrottled),
    throttledGivesUpWithinS: seconds(1.5 * throttled + sdkThrottled),
  };
}

/** Hadoop settings (without the `spark.hadoop.` prefix, as SparkApplication.hadoopConf takes them). */
export function s3aHadoopConf(options: S3aOptions): Record<string, string> {
  // Each core writes one Parquet file at a time, and S3A uploads its blocks in parallel: four
  // upload threads per core keep the pipe full without queueing on the connection pool.
  const threads = Math.max(8, options.executorCores * 4);
  const conf: Record<string, string> = {
    'fs.s3a.committer.name': 'magic',
    'fs.s3a.committer.magic.enabled': 'true',
    'fs.s3a.threads.max': String(threads),
    'fs.s3a.connection.maximum': String(threads * 2),
    'fs.s3a.fast.upload.active.blocks': '4',
    'fs.s3a.multipart.size': '64M',
    // Keep directory markers instead of bulk-deleting every parent marker after each write: fewer
    // requests on AWS (Hadoop 3.4 makes it the default), and stores that map markers to real
    // folders (versitygw's POSIX backend) refuse to delete a non-empty one, which stalls S3A.
    'fs.s3a.directory.marker.retention': 'keep',
    ...retryConf({ ...S3A_RETRIES, ...options.retries }),
  };
  if (options.region) conf['fs.s3a.endpoint.region'] = options.region;
  if (options.endpoint) {
    conf['fs.s3a.endpoint'] = options.endpoint;
    // Local and most non-AWS servers have no per-bucket DNS names.
    conf['fs.s3a.path.style.access'] = 'true';
    conf['fs.s3a.connection.ssl.enabled'] = String(options.endpoint.startsWith('https://'));
  }
  if (options.staticCredentials) {
    conf['fs.s3a.aws.credentials.provider'] = 'org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider';
    conf['fs.s3a.access.key'] = options.staticCredentials.accessKeyId;
    conf['fs.s3a.secret.key'] = options.staticCredentials.secretAccessKey;
  } else {
    conf['fs.s3a.aws.credentials.provider'] = 'com.amazonaws.auth.WebIdentityTokenCredentialsProvider';
  }
  return conf;
}
