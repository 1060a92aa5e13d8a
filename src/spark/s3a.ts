/**
 * S3A and committer settings for the feature-extraction job, in one place: the local demo, the
 * dev runner and the cdk8s construct all render them from here.
 */

export interface S3aOptions {
  /** Custom endpoint for non-AWS S3 (a local server); unset on AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Static keys, for local servers only; on EKS credentials come from IRSA (web identity). */
  readonly staticCredentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Cores per executor: S3A's upload and connection pools are sized from it. */
  readonly executorCores: number;
}

/** The Spark settings Spark's cloud-integration guide names for the S3A magic committer. */
export const MAGIC_COMMITTER_SPARK_CONF: Readonly<Record<string, string>> = {
  'spark.sql.sources.commitProtocolClass': 'org.apache.spark.internal.io.cloud.PathOutputCommitProtocol',
  'spark.sql.parquet.output.committer.class': 'org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter',
};

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
