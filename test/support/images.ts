import { rm } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { generatedImages } from '../../src/demo/images.ts';
import type { PythonSetup } from '../../src/dev/python.ts';
import { uploadTree } from '../../src/s3/upload.ts';

/** Generated JPEGs (3 classes, `perClass` each, no bad files) uploaded to `bucket` under `prefix`. */
export async function uploadGeneratedImages(python: PythonSetup, s3: S3Client, bucket: string, prefix: string, perClass = 4): Promise<void> {
  const images = await generatedImages(python, { perClass, withBad: false });
  try {
    await uploadTree(s3, images, bucket, prefix);
  } finally {
    await rm(images, { recursive: true, force: true });
  }
}
