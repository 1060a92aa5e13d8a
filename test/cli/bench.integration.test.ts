import { describe, expect, it } from 'vitest';
import { BENCH_CASES, casesFlag, scaleFlag, sizesFlag } from '../../src/cli/bench.ts';
import { FULL_DATASET_IMAGES } from '../../src/cli/bench-scale.ts';
import { UsageError } from '../../src/cli/exit.ts';
import { orchard } from '../support/cli.ts';

// The measurements themselves are tested on the Python side (spark-images/tests/test_bench.py,
// which runs a small bench end to end); here, the command line the CLI accepts and refuses.
describe('orchard bench (CLI)', () => {
  it('takes a subset of the cases and sizes within the job range', () => {
    expect(casesFlag('job, ort')).toEqual(['job', 'ort']);
    expect(casesFlag(BENCH_CASES.join(','))).toEqual([...BENCH_CASES]);
    expect(sizesFlag('224,100')).toEqual([224, 100]);
    expect(() => casesFlag('job,gpu')).toThrow(UsageError);
    expect(() => casesFlag(',')).toThrow(/empty/);
    expect(() => sizesFlag('224,2048')).toThrow(/32\.\.1024/);
    expect(() => sizesFlag('16')).toThrow(/>= 32/);
  });

  it('takes the scale mode counts, ascending, the full dataset by default', () => {
    expect(scaleFlag(true)).toEqual([1000, 10000, FULL_DATASET_IMAGES]);
    expect(FULL_DATASET_IMAGES).toBe(90_380);
    expect(scaleFlag('5000,1000,5000')).toEqual([1000, 5000]);
    expect(() => scaleFlag(',')).toThrow(/lists no image counts/);
    expect(() => scaleFlag('0')).toThrow(/--scale must be an integer >= 1/);
  });

  it('exits 2 on a bad flag before any setup, naming the flag and the fix', async () => {
    for (const [args, message] of [
      [['--images', '0'], /--images must be an integer >= 1, got "0"/],
      [['--runs', 'three'], /--runs must be an integer >= 1/],
      [['--cases', 'job,gpu'], /--cases "job,gpu": unknown gpu[\s\S]*fix: pass a comma-separated subset of ort,job,baseline,peak,settings/],
      [['--input', '/nonexistent/orchard-bench'], /--input \/nonexistent\/orchard-bench is not a folder/],
      [['--scale', '1000', '--precision', 'fp16'], /--precision "fp16" is not one of int8, fp32/],
      [['--incremental', '--scale', '1000'], /--incremental is a mode of its own[\s\S]*fix: run it without --scale and --node/],
      [['--incremental', '--scale-size', '16'], /--scale-size must be an integer >= 32/],
    ] as const) {
      const r = await orchard('bench', ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\[setup\]/);
    }
  });
});
