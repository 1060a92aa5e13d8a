import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface UploadResult {
  readonly files: number;
  readonly bytes: number;
  /** Files left alone because an object of the same key and size was already there. */
  readonly unchanged: number;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

async function existingSizes(client: S3Client, bucket: string, prefix: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) sizes.set(object.Key!, object.Size ?? -1);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return sizes;
}

/**
 * Copies every file under `localDir` to `s3://bucket/prefix/<relative path>`, a few at a time.
 * Objects already there with the same size are skipped, so a second run uploads nothing.
 */
export async function uploadTree(
  client: S3Client,
  localDir: string,
  bucket: string,
  prefix: string,
  options: { concurrency?: number; onProgress?: (done: number) => void } = {},
): Promise<UploadResult> {
  const base = prefix.replace(/\/+$/, '');
  const existing = await existingSizes(client, bucket, `${base}/`);
  const files: string[] = [];
  for await (const file of walk(localDir)) files.push(file);
  files.sort();
  let next = 0;
  let done = 0;
  let bytes = 0;
  let unchanged = 0;
  const worker = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      const key = `${base}/${relative(localDir, file).split(sep).join('/')}`;
      const size = (await stat(file)).size;
      if (existing.get(key) === size) {
        unchanged += 1;
      } else {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
        bytes += size;
      }
      done += 1;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  return { files: files.length, bytes, unchanged };
}
