import { describe, expect, it } from 'vitest';
import { jobErrorFrom } from '../../src/controller/job-error.ts';

describe('the job\'s own error, from its driver\'s termination message', () => {
  it('takes the error of the job\'s last failed line, whatever Spark logged after it', () => {
    const message = [
      '{"ts": 1.0, "level": "info", "logger": "orchard.featurize", "event": "spark_started"}',
      '{"ts": 2.0, "level": "error", "logger": "orchard.featurize", "event": "failed", "error": "s3a://orchard-dev/no-such-prefix holds no images: check --input"}',
      '26/12/04 15:00:00 INFO ShutdownHookManager: Shutdown hook called',
    ].join('\n');
    expect(jobErrorFrom(message)).toBe('s3a://orchard-dev/no-such-prefix holds no images: check --input');
  });

  it('keeps the tail of a message without the job\'s line (an error the job did not catch), and nothing of an empty one', () => {
    expect(jobErrorFrom('Traceback (most recent call last):\n  File "featurize.py"\nMemoryError\n')).toBe('Traceback (most recent call last):\nFile "featurize.py"\nMemoryError');
    expect(jobErrorFrom(`${'x'.repeat(2000)}\nthe end`)).toMatch(/^…x+\nthe end$/);
    expect(jobErrorFrom('{"event": "failed", "error": ')).toBe('{"event": "failed", "error":');
    expect(jobErrorFrom('')).toBeUndefined();
    expect(jobErrorFrom(undefined)).toBeUndefined();
  });
});
