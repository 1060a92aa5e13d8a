import { describe, expect, it } from 'vitest';
import { OrchardError } from '../../src/errors.ts';
import { parseS3Uri } from '../../src/api/s3-uri.ts';
import { featurizeOutputs, featurizeProblems } from '../../src/spark/application.ts';
import { FEATURIZE_PROPS } from '../support/featurize-props.ts';

function rejection(uri: string): OrchardError {
  try {
    parseS3Uri(uri);
  } catch (error) {
    expect(error).toBeInstanceOf(OrchardError);
    return error as OrchardError;
  }
  throw new Error(`${uri} was accepted`);
}

describe('parseS3Uri', () => {
  it('reads the bucket and a prefix ending with one slash from s3a:// and s3:// URIs', () => {
    expect(parseS3Uri('s3a://fruits-data/features/run-1/')).toEqual({ bucket: 'fruits-data', prefix: 'features/run-1/' });
    expect(parseS3Uri('s3a://fruits-data/features/run-1')).toEqual({ bucket: 'fruits-data', prefix: 'features/run-1/' });
    expect(parseS3Uri('s3://fruits.data-2/features')).toEqual({ bucket: 'fruits.data-2', prefix: 'features/' });
    expect(parseS3Uri('S3A://fruits-data/Features/Run 1/')).toEqual({ bucket: 'fruits-data', prefix: 'Features/Run 1/' });
  });

  it('collapses repeated slashes as Hadoop does, so the prefix is where the job wrote', () => {
    expect(parseS3Uri('s3a://fruits-data//features///run-1//')).toEqual({ bucket: 'fruits-data', prefix: 'features/run-1/' });
  });

  it('rejects other schemes, naming the scheme and showing the expected form', () => {
    for (const [uri, message] of [
      ['gs://fruits-data/features/', 'output URI scheme "gs:" is not S3'],
      ['s3n://fruits-data/features/', 'output URI scheme "s3n:" is not S3'],
      ['file:///tmp/features', 'output URI scheme "file:" is not S3'],
      ['fruits-data/features', 'output URI has no s3a:// or s3:// scheme'],
    ] as const) {
      const error = rejection(uri);
      expect(error.message).toBe(message);
      expect(error.hint).toContain('s3a://<bucket>/features/run-1/');
      expect(error.context).toEqual({ uri });
    }
  });

  it('rejects a whole bucket: a dataset is a folder in it', () => {
    for (const uri of ['s3a://fruits-data', 's3a://fruits-data/', 's3://fruits-data//']) {
      const error = rejection(uri);
      expect(error.message).toBe('output URI names the whole bucket "fruits-data", not a dataset folder');
      expect(error.hint).toBe('write each dataset to its own folder in the bucket, e.g. s3a://fruits-data/features/run-1/');
    }
  });

  it('rejects missing and invalid bucket names', () => {
    expect(rejection('s3a:///features/').message).toBe('output URI has no bucket name');
    expect(rejection('s3a://Fruits_Data/features/').message).toBe('output URI bucket "Fruits_Data" is not a valid S3 bucket name');
    expect(rejection('s3a://ab/features/').message).toBe('output URI bucket "ab" is not a valid S3 bucket name');
    expect(rejection('s3a://-fruits/features/').hint).toContain('3-63 lowercase letters, digits, dots and hyphens');
  });

  it('rejects queries, fragments and dot segments, which S3 and Hadoop would read differently', () => {
    expect(rejection('s3a://fruits-data/features?versionId=1').message).toContain('query or fragment');
    expect(rejection('s3a://fruits-data/features#x').message).toContain('query or fragment');
    expect(rejection('s3a://fruits-data/features/../other/').message).toContain('"." or ".." segment');
  });

  it('rejects credentials in the URI without repeating the secret', () => {
    const error = rejection('s3a://AKIAEXAMPLE:s3cr3t@fruits-data/features/');
    expect(error.message).toBe('output URI carries credentials before the bucket name');
    expect(error.describe()).not.toContain('s3cr3t');
    expect(error.describe()).not.toContain('AKIAEXAMPLE');
    expect(error.context).toEqual({ uri: 's3a://<redacted>@fruits-data/features/' });
  });
});

describe('one parser for the job builder and the controller', () => {
  // Every shape the two used to disagree on, and their neighbours.
  const CANDIDATES = [
    's3a://fruits-data/features/run-1', 's3a://fruits-data/features/run-1/', 's3a://fruits-data//features///run-1//',
    's3a://fruits-data/features/../run-1', 's3a://fruits-data/./features', 's3a://fruits-data/features?versionId=1',
    's3a://fruits-data/features#x', 's3a://key:secret@fruits-data/features', 's3a://fruits-data', 's3a://fruits-data/',
    's3a://Fruits_Data/features', 's3a://ab/features', 's3a:///features', 's3://fruits-data/features', 'S3A://fruits-data/features',
    's3n://fruits-data/features', 'https://fruits-data/features', 's3a://fruits-data/Features/Run 1', 's3a://fruits.data-2/a/b/c',
    's3a://fruits-data/features/run-1/..', 's3a://fruits-data/%2e%2e/x', 's3a://fruits-data/features/ü',
  ];

  it('accepts in the controller every output URI the SparkApplication builder accepts, at the same folder', () => {
    let accepted = 0;
    for (const output of CANDIDATES) {
      const problems = featurizeProblems({ ...FEATURIZE_PROPS, output });
      if (problems.length > 0) {
        expect(problems.join('\n'), output).toMatch(/output/);
        continue;
      }
      accepted += 1;
      const [annotated] = featurizeOutputs({ ...FEATURIZE_PROPS, output });
      expect(() => parseS3Uri(annotated!), output).not.toThrow();
      expect(parseS3Uri(annotated!), output).toEqual(parseS3Uri(output));
    }
    // Not vacuous: both kinds are in the list.
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(accepted).toBeLessThan(CANDIDATES.length);
  });
});
