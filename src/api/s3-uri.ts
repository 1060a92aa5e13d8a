import { OrchardError } from '../errors.ts';

export interface S3Location {
  readonly bucket: string;
  /** Key prefix of the dataset: never empty, no leading `/`, always ending with `/`. */
  readonly prefix: string;
}

const EXAMPLE = 's3a://<bucket>/features/run-1/';

// The current S3 naming rules; legacy buckets with capitals or underscores cannot be reached by
// S3A's virtual-hosted addressing either, so no job of ours writes to one.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Whether `name` is a bucket name by the current S3 naming rules. */
export function isBucketName(name: string): boolean {
  return BUCKET_NAME.test(name);
}

/**
 * The bucket and key prefix of a folder URI as Spark reads and writes it (`s3a://` or `s3://`).
 * Repeated slashes collapse as Hadoop's Path collapses them, so the prefix names the keys the job
 * really wrote. The one S3 URI parser: the job builder, the controller and the CLI all use it, so
 * no job can be built whose output the controller would refuse. `what` names the URI in errors.
 */
export function parseS3Uri(uri: string, what = 'output URI'): S3Location {
  const match = /^(s3a?):\/\/([^/?#]*)(.*)$/i.exec(uri);
  if (!match) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1];
    throw new OrchardError(
      scheme ? `${what} scheme "${scheme}:" is not S3` : `${what} has no s3a:// or s3:// scheme`,
      `write the output as ${EXAMPLE}`,
      { uri },
    );
  }
  const authority = match[2]!;
  const path = match[3]!;
  if (authority.includes('@')) {
    // Hadoop once allowed keys in the authority; never echo them into statuses and logs.
    throw new OrchardError(`${what} carries credentials before the bucket name`, 'remove "<key>:<secret>@" from the URI; the controller uses its IAM role', {
      uri: `${match[1]}://<redacted>@${authority.slice(authority.lastIndexOf('@') + 1)}${path}`,
    });
  }
  if (!BUCKET_NAME.test(authority)) {
    throw new OrchardError(
      authority ? `${what} bucket "${authority}" is not a valid S3 bucket name` : `${what} has no bucket name`,
      `bucket names are 3-63 lowercase letters, digits, dots and hyphens: ${EXAMPLE}`,
      { uri },
    );
  }
  if (/[?#]/.test(path)) {
    throw new OrchardError(`${what} has a query or fragment, which S3A would take as part of the key`, `write a plain folder URI: ${EXAMPLE}`, { uri });
  }
  const segments = path.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    throw new OrchardError(`${what} has a "." or ".." segment, which S3 keeps literally but Hadoop resolves`, `write the folder path without them: ${EXAMPLE}`, { uri });
  }
  if (segments.length === 0) {
    throw new OrchardError(
      `${what} names the whole bucket "${authority}", not a dataset folder`,
      `write each dataset to its own folder in the bucket, e.g. s3a://${authority}/features/run-1/`,
      { uri },
    );
  }
  return { bucket: authority, prefix: `${segments.join('/')}/` };
}

/** `s3://bucket/key`, as S3 tooling prints an object. */
export function objectUri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
