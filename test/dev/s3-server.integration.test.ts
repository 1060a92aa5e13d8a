import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../src/s3/client.ts';
import { stack } from '../support/kube.ts';

const MiB = 1024 * 1024;

describe('S3 server of the dev stack', () => {
  let s3: S3Client;
  let bucket: string;
  let prefix: string;

  beforeAll(() => {
    s3 = s3Client(stack().s3);
    bucket = stack().s3.bucket;
    prefix = `tests/${randomBytes(4).toString('hex')}`;
  });

  afterAll(() => s3?.destroy());

  const body = async (key: string, range?: string) => {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    return { bytes: Buffer.from(await response.Body!.transformToByteArray()), response };
  };

  it('puts an object and gets back the same bytes, content type and ETag', async () => {
    const data = randomBytes(200_000);
    const key = `${prefix}/put/object.bin`;
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentType: 'application/octet-stream' }));
    expect(put.ETag).toBe(`"${createHash('md5').update(data).digest('hex')}"`);
    const { bytes, response } = await body(key);
    expect(bytes.equals(data)).toBe(true);
    expect(response.ContentType).toBe('application/octet-stream');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ContentLength).toBe(data.length);
  });

  it('serves range reads, including the suffix range that Parquet footer readers use', async () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const key = `${prefix}/range/data.bin`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));

    const middle = await body(key, 'bytes=100-199');
    expect(middle.bytes.equals(data.subarray(100, 200))).toBe(true);
    expect(middle.response.ContentRange).toBe('bytes 100-199/1000');

    const suffix = await body(key, 'bytes=-8');
    expect(suffix.bytes.equals(data.subarray(992))).toBe(true);
    expect(suffix.response.ContentRange).toBe('bytes 992-999/1000');
  });

  it('lists with ListObjectsV2: pages through continuation tokens and groups by delimiter', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `${prefix}/list/class-${i % 5}/img-${String(i).padStart(3, '0')}.jpg`);
    await Promise.all(keys.map((key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }))));

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/list/`, MaxKeys: 7, ContinuationToken: token }));
      pages += 1;
      seen.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    expect(pages).toBe(4);
    expect(seen).toEqual([...keys].sort());

    const folders = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/list/`, Delimiter: '/' }));
    expect(folders.CommonPrefixes?.map((p) => p.Prefix)).toEqual([0, 1, 2, 3, 4].map((i) => `${prefix}/list/class-${i}/`));
    expect(folders.Contents ?? []).toEqual([]);
  });

  it('completes a multipart upload from parts of the minimum size, and lists then aborts a pending one', async () => {
    const key = `${prefix}/multipart/big.bin`;
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(MiB + 17)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const etags = [];
    for (const [index, part] of parts.entries()) {
      const uploaded = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: index + 1, Body: part }));
      etags.push({ PartNumber: index + 1, ETag: uploaded.ETag });
    }
    const completed = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags } }));
    // The S3 convention for multipart ETags: md5 of the part md5s, dash, part count.
    expect(completed.ETag).toMatch(/-3"$/);
    const { bytes } = await body(key);
    expect(bytes.equals(Buffer.concat(parts))).toBe(true);

    // S3A's committers and its cleanup list uploads still pending under a prefix.
    const pendingKey = `${prefix}/multipart/pending.bin`;
    const pending = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: pendingKey }));
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/multipart/` }));
    expect(listed.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([[pendingKey, pending.UploadId]]);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: pendingKey, UploadId: pending.UploadId }));
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/multipart/` }));
    expect(after.Uploads ?? []).toEqual([]);
  });

  it('deletes objects in bulk and refuses requests signed with the wrong secret', async () => {
    const keys = [`${prefix}/delete/a`, `${prefix}/delete/b`];
    await Promise.all(keys.map((key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }))));
    const deleted = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
    expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual(keys);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/delete/` }));
    expect(left.KeyCount).toBe(0);

    const intruder = s3Client({ ...stack().s3, secretAccessKey: 'not-the-secret' });
    await expect(intruder.send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    intruder.destroy();
  });
});
