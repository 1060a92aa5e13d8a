import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { parquetReadObjects } from 'hyparquet';
import { expect } from 'vitest';
import { parseS3Uri } from '../../src/api/s3-uri.ts';
import type { S3Endpoint } from '../../src/dev/stack.ts';
import { s3Client } from '../../src/s3/client.ts';

/** One column of every row of a dataset's Parquet files, read whole from S3 (test-sized datasets only). */
export async function datasetColumn(s3: S3Client, uri: string, column: string): Promise<unknown[]> {
  const { bucket, prefix } = parseS3Uri(uri);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const files = (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith('.parquet') && !k.slice(prefix.length).includes('/'));
  const values: unknown[] = [];
  for (const file of files) {
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: file }))).Body!.transformToByteArray();
    const buffer = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
    for (const row of await parquetReadObjects({ file: buffer, columns: [column] })) values.push((row as Record<string, unknown>)[column]);
  }
  return values;
}

/** The dataset at `uri` holds `images` rows, one per image: no image lost, none written twice. */
export async function expectEachImageOnce(endpoint: S3Endpoint, uri: string, images: number): Promise<void> {
  const s3 = s3Client(endpoint);
  try {
    const paths = (await datasetColumn(s3, uri, 'path')) as string[];
    expect(paths).toHaveLength(images);
    expect(new Set(paths).size).toBe(images);
  } finally {
    s3.destroy();
  }
}
