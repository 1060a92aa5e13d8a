import { S3Client } from '@aws-sdk/client-s3';

export interface S3Settings {
  /** A custom endpoint (local server, non-AWS S3); unset on AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Static credentials for local servers; unset on AWS so the default chain (IRSA) applies. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

/** Bounded retries: the SDK backs off exponentially between attempts. */
const MAX_ATTEMPTS = 5;

/**
 * An S3 client for AWS (default credential chain, virtual-hosted addressing) or for a custom
 * endpoint (path-style addressing, which local and most non-AWS servers need).
 */
export function s3Client(settings: S3Settings): S3Client {
  const credentials =
    settings.accessKeyId && settings.secretAccessKey ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } : undefined;
  return new S3Client({
    region: settings.region ?? process.env.AWS_REGION ?? 'us-east-1',
    maxAttempts: MAX_ATTEMPTS,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    ...(credentials ? { credentials } : {}),
  });
}
