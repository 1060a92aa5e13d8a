import { OrchardError } from '../errors.ts';
import { objectUri } from '../api/s3-uri.ts';

/** What was being read when S3 failed: the output URI and the object (or listed prefix) within it. */
export interface S3ReadTarget {
  readonly uri: string;
  readonly bucket: string;
  /** The object key read, or the prefix listed. */
  readonly key: string;
  readonly operation: 'GetObject' | 'ListObjectsV2' | 'ListMultipartUploads';
}

/**
 * S3 could not be read: the network, the credentials, the bucket, an abort, or the server after the
 * SDK's own retries. Nothing is known about the output, so the controller retries with backoff
 * instead of recording a status.
 */
export class S3ReadError extends OrchardError {
  readonly uri: string;
  readonly bucket: string;
  readonly key: string;
  readonly operation: S3ReadTarget['operation'];
  /** The S3 error code (`AccessDenied`, `NoSuchBucket`, `InternalError`), the errno (`ECONNREFUSED`) or `AbortError`. */
  readonly code: string;
  /** HTTP status of S3's answer, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(target: S3ReadTarget, code: string, detail: string, httpStatus?: number, options?: { cause?: unknown }) {
    super(
      `${target.operation} ${objectUri(target.bucket, target.key)} failed (${code}): ${detail}`,
      hintFor(code, target),
      { uri: target.uri, object: objectUri(target.bucket, target.key), code, ...(httpStatus ? { httpStatus } : {}) },
      options,
    );
    this.name = 'S3ReadError';
    this.uri = target.uri;
    this.bucket = target.bucket;
    this.key = target.key;
    this.operation = target.operation;
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

/** Wraps whatever the SDK threw (service exception, Node system error, abort) into an S3ReadError. */
export function s3ReadError(error: unknown, target: S3ReadTarget): S3ReadError {
  if (error instanceof S3ReadError) return error;
  const detail = error instanceof Error ? error.message || String(error) : String(error);
  return new S3ReadError(target, codeOf(error), detail, statusOf(error), { cause: error });
}

/** True for the SDK's answer to a GET of an absent key. */
export function isNoSuchKey(error: unknown): boolean {
  return codeOf(error) === 'NoSuchKey';
}

interface ErrorShape {
  readonly code?: unknown;
  readonly name?: unknown;
  readonly errors?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

function codeOf(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'Unknown';
  const shape = error as ErrorShape;
  // Node system errors carry the errno name; the SDK passes them through untouched.
  if (typeof shape.code === 'string' && shape.code) return shape.code;
  // Node 20 connects to every address of a host in turn and reports an AggregateError of them.
  if (Array.isArray(shape.errors) && shape.errors.length > 0) return codeOf(shape.errors[0]);
  // The SDK names service exceptions after S3's error code, and aborts `AbortError`.
  if (typeof shape.name === 'string' && shape.name && shape.name !== 'Error') return shape.name;
  const status = statusOf(error);
  return status ? `HTTP${status}` : 'Unknown';
}

function statusOf(error: unknown): number | undefined {
  const status = (error as ErrorShape | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'TimeoutError', 'RequestTimeout']);
const DENIED = new Set([
  'AccessDenied',
  'Forbidden',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'CredentialsProviderError',
  // versitygw's answer (HTTP 404) to an access key it does not know; AWS says InvalidAccessKeyId.
  'XAdminUserNotFound',
]);
// The object went away or changed between the listing and the read: a job is rewriting the output.
const CHANGED = new Set(['NoSuchKey', 'InvalidRange', 'ObjectChanged']);

function hintFor(code: string, target: S3ReadTarget): string {
  if (UNREACHABLE.has(code)) return 'check that the S3 endpoint the controller is configured with is reachable from its pod (DNS, network policy, proxy)';
  if (DENIED.has(code)) {
    return `check the controller's credentials: its IAM role (IRSA) must allow s3:ListBucket on ${target.bucket} and s3:GetObject on ${objectUri(target.bucket, '*')}`;
  }
  if (code === 'NoSuchBucket') return `check the bucket name in ${target.uri}, and that the controller's region or endpoint is the bucket's`;
  if (code === 'AbortError') return 'the read was cancelled (the controller is stopping or lost its lease); the next reconcile reads again';
  if (CHANGED.has(code)) return 'the output changed while it was being read, probably because a job is rewriting it; the controller reads it again';
  return 'S3 failed after the SDK retries; the controller retries with backoff; check the S3 service health if it persists';
}
