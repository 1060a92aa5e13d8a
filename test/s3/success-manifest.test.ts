import { describe, expect, it } from 'vitest';
import { parseSuccessMarker } from '../../src/s3/success-manifest.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * Written by Spark 3.5.9 with Hadoop 3.3's S3A magic committer (trimmed: 183 metrics, 20 filenames
 * and the iostatistics in the real one), pretty-printed by Jackson as Hadoop does.
 */
const MAGIC_SUCCESS = `{
  "name" : "org.apache.hadoop.fs.s3a.commit.files.SuccessData/1",
  "timestamp" : 1795499036566,
  "date" : "Tue Nov 24 05:43:56 UTC 2026",
  "hostname" : "vm",
  "committer" : "magic",
  "description" : "Task committer attempt_202611240543551182824059451097255_0000_m_000000_0",
  "jobId" : "8329c807-394a-42a0-8705-f6e9985a4858",
  "jobIdSource" : "spark.sql.sources.writeJobUUID",
  "metrics" : {
    "files_created" : 323,
    "committer_magic_files_created" : 160,
    "committer_commits_completed" : 160
  },
  "diagnostics" : {
    "fs.s3a.authoritative.path" : "",
    "fs.s3a.metadatastore.impl" : "org.apache.hadoop.fs.s3a.s3guard.NullMetadataStore",
    "fs.s3a.metadatastore.authoritative" : "false"
  },
  "filenames" : [ "/out/part-00007-86438f71-b3c2-4d49-90db-1e258e4cfcbc-c000.snappy.parquet", "/out/part-00006-86438f71-b3c2-4d49-90db-1e258e4cfcbc-c000.snappy.parquet" ],
  "iostatistics" : {
    "counters" : { "committer_bytes_committed" : 1319850 },
    "gauges" : { },
    "minimums" : { },
    "maximums" : { },
    "meanstatistics" : { }
  }
}`;

describe('parseSuccessMarker', () => {
  it('reads the S3A magic committer manifest', () => {
    expect(parseSuccessMarker(bytes(MAGIC_SUCCESS))).toEqual({
      state: 'manifest',
      manifest: {
        committer: 'magic',
        filenames: [
          '/out/part-00007-86438f71-b3c2-4d49-90db-1e258e4cfcbc-c000.snappy.parquet',
          '/out/part-00006-86438f71-b3c2-4d49-90db-1e258e4cfcbc-c000.snappy.parquet',
        ],
        jobId: '8329c807-394a-42a0-8705-f6e9985a4858',
        hostname: 'vm',
        timestamp: 1795499036566,
      },
    });
  });

  it("reads the manifest committer's ManifestSuccessData and leaves out optional fields that are null or absent", () => {
    const json = JSON.stringify({
      name: 'org.apache.hadoop.mapreduce.lib.output.committer.manifest.files.ManifestSuccessData/1',
      committer: 'org.apache.hadoop.mapreduce.lib.output.committer.manifest.ManifestCommitter',
      filenames: [],
      jobId: null,
    });
    expect(parseSuccessMarker(bytes(json))).toEqual({
      state: 'manifest',
      manifest: { committer: 'org.apache.hadoop.mapreduce.lib.output.committer.manifest.ManifestCommitter', filenames: [] },
    });
  });

  it('calls a zero-byte marker empty: the classic FileOutputCommitter wrote it', () => {
    expect(parseSuccessMarker(new Uint8Array(0))).toEqual({ state: 'empty' });
  });

  it('says precisely what is wrong with a marker that is neither', () => {
    const valid = JSON.parse(MAGIC_SUCCESS) as Record<string, unknown>;
    const cases: [string | Uint8Array, string][] = [
      ['\n', '_SUCCESS: not JSON (Unexpected end of JSON input); starts with "\\n"'],
      ['{"name": "org.apache', '_SUCCESS: not JSON'],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), '_SUCCESS: 4 bytes that are not UTF-8 text'],
      ['[1, 2]', "_SUCCESS: JSON an array, not Hadoop's SuccessData object"],
      ['"done"', '_SUCCESS: JSON string "done", not Hadoop\'s SuccessData object'],
      [JSON.stringify({ ...valid, name: 'my-job' }), '_SUCCESS: name is string "my-job", not a Hadoop SuccessData name'],
      [JSON.stringify({ ...valid, name: undefined }), '_SUCCESS: name is missing, not a Hadoop SuccessData name'],
      [JSON.stringify({ ...valid, committer: '' }), '_SUCCESS: committer is string "", expected a committer name'],
      [JSON.stringify({ ...valid, filenames: '/out/part-0.parquet' }), '_SUCCESS: filenames is string "/out/part-0.parquet", expected an array of paths'],
      [JSON.stringify({ ...valid, filenames: ['/out/a.parquet', 7] }), '_SUCCESS: filenames[1] is number 7, expected a path'],
      [JSON.stringify({ ...valid, timestamp: '2026-11-24' }), '_SUCCESS: timestamp is string "2026-11-24", expected a number'],
      [JSON.stringify({ ...valid, hostname: 42 }), '_SUCCESS: hostname is number 42, expected a string'],
    ];
    for (const [input, error] of cases) {
      const marker = parseSuccessMarker(typeof input === 'string' ? bytes(input) : input);
      expect(marker.state, JSON.stringify(input)).toBe('invalid');
      expect(marker.state === 'invalid' && marker.error, JSON.stringify(input)).toContain(error);
    }
  });
});
