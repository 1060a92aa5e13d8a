/** What one local-mode spark-submit needs; the dev runner derives it from a SparkApplication. */
export interface LocalSubmission {
  /** Cores for the local master (`local[N]`): the executor cores the spec asks for. */
  readonly cores: number;
  readonly driverMemory: string;
  readonly mainApplicationFile: string;
  readonly arguments: readonly string[];
  readonly sparkConf: Readonly<Record<string, string>>;
  readonly hadoopConf: Readonly<Record<string, string>>;
  readonly jars: readonly string[];
  readonly name: string;
}

/** The argv for spark-submit; hadoopConf entries become `spark.hadoop.*` settings, as the operator does. */
export function sparkSubmitArgv(submission: LocalSubmission): string[] {
  const conf = {
    ...submission.sparkConf,
    ...Object.fromEntries(Object.entries(submission.hadoopConf).map(([key, value]) => [`spark.hadoop.${key}`, value])),
  };
  return [
    '--master', `local[${submission.cores}]`,
    '--name', submission.name,
    '--driver-memory', submission.driverMemory,
    ...(submission.jars.length > 0 ? ['--jars', submission.jars.join(',')] : []),
    ...Object.entries(conf)
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([key, value]) => ['--conf', `${key}=${value}`]),
    submission.mainApplicationFile,
    ...submission.arguments,
  ];
}
