import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { isNoSuchKey, S3ReadError, s3ReadError, type S3ReadTarget } from './errors.ts';

export interface ListedObject {
  readonly key: string;
  readonly bytes: number;
}

/** A multipart upload begun and neither completed nor aborted: its parts are stored, and billed, but invisible. */
export interface PendingUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
}

/**
 * The S3 reads of one output (the controller's observation, the run report): each failure wrapped
 * with the URI and object it concerned, each ranged read checked against the size the listing gave,
 * and every request counted.
 */
export class OutputReads {
  requests = 0;
  bytes = 0;

  constructor(
    private readonly s3: S3Client,
    readonly uri: string,
    readonly bucket: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The whole object, or undefined when there is no such key. */
  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: this.signal });
      return this.counted(await response.Body!.transformToByteArray());
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw s3ReadError(error, this.target(key, 'GetObject'));
    }
  }

  /** Every object under `prefix`, page by page (`pageSize` keys per page; S3's maximum by default). */
  async list(prefix: string, pageSize?: number): Promise<ListedObject[]> {
    const target = this.target(prefix, 'ListObjectsV2');
    const objects: ListedObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: pageSize }), { abortSignal: this.signal });
        this.requests += 1;
        for (const object of page.Contents ?? []) if (object.Key) objects.push({ key: object.Key, bytes: object.Size ?? 0 });
        if (page.IsTruncated && !page.NextContinuationToken) {
          throw new S3ReadError(target, 'InvalidListing', `page ending at ${objects.at(-1)?.key} is truncated but has no continuation token`);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw s3ReadError(error, target);
    }
    return objects;
  }

  /** Every pending multipart upload of a key under `prefix`, page by page. */
  async uploads(prefix: string): Promise<PendingUpload[]> {
    const target = this.target(prefix, 'ListMultipartUploads');
    const uploads: PendingUpload[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const page = await this.s3.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }), { abortSignal: this.signal });
        this.requests += 1;
        for (const u of page.Uploads ?? []) if (u.Key && u.UploadId) uploads.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
        [keyMarker, uploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
      } while (keyMarker);
    } catch (error) {
      throw s3ReadError(error, target);
    }
    return uploads;
  }

  /** `length` bytes of a listed object from `offset`, in one ranged GET. */
  async range(object: ListedObject, offset: number, length: number): Promise<Uint8Array> {
    const target = this.target(object.key, 'GetObject');
    const range = `bytes=${offset}-${offset + length - 1}`;
    try {
      const response = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: object.key, Range: range }), { abortSignal: this.signal });
      const bytes = this.counted(await response.Body!.transformToByteArray());
      const total = /\/(\d+)$/.exec(response.ContentRange ?? '')?.[1];
      if (total !== undefined && Number(total) !== object.bytes) {
        throw new S3ReadError(target, 'ObjectChanged', `object is now ${total} bytes, but was listed with ${object.bytes}`);
      }
      if (bytes.length !== length) {
        throw new S3ReadError(target, 'UnexpectedRange', `asked for ${range} and got ${bytes.length} bytes (Content-Range: ${response.ContentRange ?? 'none'})`);
      }
      return bytes;
    } catch (error) {
      throw s3ReadError(error, target);
    }
  }

  private counted(bytes: Uint8Array): Uint8Array {
    this.requests += 1;
    this.bytes += bytes.length;
    return bytes;
  }

  private target(key: string, operation: S3ReadTarget['operation']): S3ReadTarget {
    return { uri: this.uri, bucket: this.bucket, key, operation };
  }
}
