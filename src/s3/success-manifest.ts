import { describeValue } from '../format.ts';

/** Hadoop's SuccessData JSON, written by the S3A committers (magic, directory, partitioned). */
export interface SuccessManifest {
  readonly committer: string;
  /** Paths of committed files; Hadoop truncates the list at 100 entries. */
  readonly filenames: readonly string[];
  readonly jobId?: string;
  readonly hostname?: string;
  /** Milliseconds since the epoch. */
  readonly timestamp?: number;
}

export type SuccessMarker =
  | { readonly state: 'missing' }
  /** A zero-byte `_SUCCESS`: the classic FileOutputCommitter ran, which is unsafe on S3. */
  | { readonly state: 'empty' }
  | { readonly state: 'invalid'; readonly error: string }
  | { readonly state: 'manifest'; readonly manifest: SuccessManifest };

/** The marker every Hadoop output committer writes in the output folder when the job commits. */
export const SUCCESS_MARKER = '_SUCCESS';

// S3A writes `org.apache.hadoop.fs.s3a.commit.files.SuccessData/1`; the manifest committer (ABFS,
// GCS) writes `...committer.manifest.files.ManifestSuccessData/1` with the same fields.
const SUCCESS_DATA_NAME = /SuccessData\/\d+$/;

/**
 * What a `_SUCCESS` object says, from its bytes (present objects only: an absent one is `missing`
 * before this is called). Never throws: a malformed marker is a fact to record.
 */
export function parseSuccessMarker(bytes: Uint8Array): Exclude<SuccessMarker, { state: 'missing' }> {
  if (bytes.length === 0) return { state: 'empty' };
  const invalid = (error: string) => ({ state: 'invalid', error: `${SUCCESS_MARKER}: ${error}` }) as const;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return invalid(`${bytes.length} bytes that are not UTF-8 text`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return invalid(`not JSON (${(error as Error).message}); starts with ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return invalid(`JSON ${describeValue(json)}, not Hadoop's SuccessData object`);
  const data = json as Record<string, unknown>;

  if (typeof data.name !== 'string' || !SUCCESS_DATA_NAME.test(data.name)) {
    return invalid(`name is ${describeValue(data.name)}, not a Hadoop SuccessData name such as "org.apache.hadoop.fs.s3a.commit.files.SuccessData/1"`);
  }
  if (typeof data.committer !== 'string' || data.committer === '') return invalid(`committer is ${describeValue(data.committer)}, expected a committer name`);
  if (!Array.isArray(data.filenames)) return invalid(`filenames is ${describeValue(data.filenames)}, expected an array of paths`);
  const badName = data.filenames.findIndex((name) => typeof name !== 'string');
  if (badName >= 0) return invalid(`filenames[${badName}] is ${describeValue(data.filenames[badName])}, expected a path`);

  // Jackson writes unset optional fields as null: treat them as absent.
  const optional = { jobId: 'string', hostname: 'string', timestamp: 'number' } as const;
  for (const [field, type] of Object.entries(optional)) {
    const value = data[field];
    if (value !== undefined && value !== null && typeof value !== type) return invalid(`${field} is ${describeValue(value)}, expected a ${type}`);
  }
  const manifest: SuccessManifest = {
    committer: data.committer,
    filenames: data.filenames as string[],
    ...(typeof data.jobId === 'string' ? { jobId: data.jobId } : {}),
    ...(typeof data.hostname === 'string' ? { hostname: data.hostname } : {}),
    ...(typeof data.timestamp === 'number' ? { timestamp: data.timestamp } : {}),
  };
  return { state: 'manifest', manifest };
}
