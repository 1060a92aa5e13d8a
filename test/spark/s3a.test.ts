import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/paths.ts';
import { HADOOP_AWS_DEFAULT_RETRIES, S3A_RETRIES, s3aHadoopConf, s3aOutageBudget, s3aRetryProblems, s3aRetrySettings } from '../../src/spark/s3a.ts';

describe('S3A retry settings', () => {
  const deployed = s3aRetrySettings(s3aHadoopConf({ executorCores: 4, region: 'eu-west-1' }));

  it('rides out 10 minutes of refused connections and gives up within about 12', () => {
    const budget = s3aOutageBudget(deployed);
    // 40 retries x 15 s, plus at most 3.1 s of SDK backoff (100+200+400+800+1600 ms) in each of 41 attempts.
    expect(budget.ridesOutS).toBe(600);
    expect(budget.givesUpWithinS).toBe(600 + 41 * 3.1);
    // Black-holed: each of the 41 x 6 HTTP tries also waits the 5 s connect timeout.
    expect(budget.unreachableRidesOutS).toBe(600 + 41 * 6 * 5);
    expect(budget.throttledGivesUpAfterS).toBeLessThan(budget.throttledGivesUpWithinS);
  });

  it('replaces defaults whose bound was left to chance', () => {
    const budget = s3aOutageBudget(HADOOP_AWS_DEFAULT_RETRIES);
    expect(budget.ridesOutS).toBe(3.5);
    // 8 attempts x (100 ms .. 12.8 s, then 12 x 20 s of SDK backoff) + 7 x 500 ms.
    expect(budget.givesUpWithinS).toBe(2127.5);
  });

  it('renders every setting, as Hadoop 3.3.4 parses it', () => {
    const conf = s3aHadoopConf({ executorCores: 2 });
    // Both timeouts are read with getInt: "5s" would fail the job at its first S3 call.
    expect(conf['fs.s3a.connection.establish.timeout']).toMatch(/^\d+$/);
    expect(conf['fs.s3a.connection.timeout']).toMatch(/^\d+$/);
    expect(conf['fs.s3a.retry.interval']).toBe('15000ms');
    expect(() => s3aRetrySettings({})).toThrow(/fs\.s3a\.attempts\.maximum is missing/);
  });

  it("takes a job's own bound field by field, and refuses settings Hadoop would misread", () => {
    const conf = s3aHadoopConf({ executorCores: 1, retries: { retryLimit: 2, retryIntervalMs: 2_000 } });
    expect(s3aRetrySettings(conf)).toEqual({ ...S3A_RETRIES, retryLimit: 2, retryIntervalMs: 2_000 });
    expect(s3aOutageBudget(s3aRetrySettings(conf)).ridesOutS).toBe(4);
    expect(s3aRetryProblems({ retryLimit: 0, sdkRetries: 3 })).toEqual([]);
    expect(s3aRetryProblems({ retryIntervalMs: 0, retryLimit: 1.5 })).toEqual([
      's3Retries.retryIntervalMs is 0: it must be a whole number >= 1 (fs.s3a.retry.interval)',
      's3Retries.retryLimit is 1.5: it must be a whole number >= 0 (fs.s3a.retry.limit)',
    ]);
    expect(s3aRetryProblems({ retries: 3 } as never)[0]).toMatch(/^s3Retries\.retries is not a retry setting: use one of sdkRetries, /);
  });

  it('states the computed bounds in docs/configuration.md', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    const ours = s3aOutageBudget(deployed);
    const theirs = s3aOutageBudget(HADOOP_AWS_DEFAULT_RETRIES);
    const row = (label: string, a: number, b: number, c: number, d: number) => `| ${label} | ${a} s | ${b} s | ${c} s | ${d} s |`;
    expect(doc).toContain(row('server down (connections refused)', ours.ridesOutS, ours.givesUpWithinS, theirs.ridesOutS, theirs.givesUpWithinS));
    expect(doc).toContain(row('address unreachable (connects time out)', ours.unreachableRidesOutS, ours.unreachableGivesUpWithinS, theirs.unreachableRidesOutS, theirs.unreachableGivesUpWithinS));
    expect(doc).toContain(row('503 SlowDown on every call', ours.throttledGivesUpAfterS, ours.throttledGivesUpWithinS, theirs.throttledGivesUpAfterS, theirs.throttledGivesUpWithinS));
  });
});
