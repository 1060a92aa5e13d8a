import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { cacheRoot } from '../../src/paths.ts';
import { s3Client } from '../../src/s3/client.ts';
import { s3aHadoopConf } from '../../src/spark/s3a.ts';
import { stack } from '../support/kube.ts';

const exec = promisify(execFile);

/** spark-images/setup.sh writes where the venv and jars are; `npm test` runs it before vitest. */
const SETUP_ENV = join(cacheRoot(), 'setup.env');

function setup(): Record<string, string> {
  return Object.fromEntries(
    readFileSync(SETUP_ENV, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

// Lists a prefix recursively with the Hadoop FileSystem API and reads one object as text, from a
// local SparkSession configured only through the settings passed in.
const LIST_WITH_S3A = `
import json, sys
from pyspark.sql import SparkSession
conf, jars, uri = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
builder = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").config("spark.jars", jars)
for key, value in conf.items():
    builder = builder.config("spark.hadoop." + key, value)
spark = builder.getOrCreate()
jvm = spark.sparkContext._jvm
path = jvm.org.apache.hadoop.fs.Path(uri)
fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
files, it = [], fs.listFiles(path, True)
while it.hasNext():
    status = it.next()
    files.append([status.getPath().toString(), status.getLen()])
text = [row.value for row in spark.read.text(uri + "notes/readme.txt").collect()]
print("RESULT " + json.dumps({"files": sorted(files), "text": text, "fs": fs.getClass().getName()}))
spark.stop()
`;

describe('S3A (Hadoop, from a local SparkSession) and the AWS SDK on the same S3 server', () => {
  it.skipIf(!existsSync(SETUP_ENV))(
    'lists and reads objects the JavaScript SDK wrote, with the S3A settings orchard renders',
    async () => {
      const { s3 } = stack();
      const client = s3Client(s3);
      const prefix = `s3a-interop/${randomBytes(4).toString('hex')}`;
      const objects = { 'a.bin': randomBytes(1234), 'class-1/b.jpg': randomBytes(4321), 'notes/readme.txt': Buffer.from('line one\nline two\n') };
      for (const [key, body] of Object.entries(objects)) await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/${key}`, Body: body }));
      client.destroy();

      const { ORCHARD_PYTHON_BIN: python, ORCHARD_JARS_DIR: jarsDir } = setup();
      const jars = (await readdir(jarsDir!)).filter((f) => f.endsWith('.jar')).map((f) => join(jarsDir!, f));
      const conf = s3aHadoopConf({
        endpoint: s3.endpoint,
        region: s3.region,
        staticCredentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        executorCores: 1,
      });
      const uri = `s3a://${s3.bucket}/${prefix}/`;
      const { stdout } = await exec(python!, ['-c', LIST_WITH_S3A, JSON.stringify(conf), jars.join(','), uri], {
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, SPARK_LOCAL_IP: '127.0.0.1' },
      });
      const result = JSON.parse(stdout.split('\n').find((line) => line.startsWith('RESULT '))!.slice('RESULT '.length)) as {
        files: [string, number][];
        text: string[];
        fs: string;
      };
      expect(result.fs).toBe('org.apache.hadoop.fs.s3a.S3AFileSystem');
      expect(result.files).toEqual(
        Object.entries(objects)
          .map(([key, body]) => [`${uri}${key}`, body.length])
          .sort(),
      );
      expect(result.text).toEqual(['line one', 'line two']);
    },
    120_000,
  );
});
