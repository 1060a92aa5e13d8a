import { describe, expect, it } from 'vitest';
import { hasRunPlaceholder, resolveRunOutput, RUN_PLACEHOLDER, runPlaceholderProblem } from '../../src/api/run-output.ts';

describe('the {run} placeholder of an output URI', () => {
  it('is replaced by the run name only as the whole last segment, trailing slashes or not', () => {
    expect(RUN_PLACEHOLDER).toBe('{run}');
    expect(resolveRunOutput('s3a://b/features/nightly/{run}', 'nightly-1764820800000000000')).toBe('s3a://b/features/nightly/nightly-1764820800000000000');
    expect(resolveRunOutput('s3a://b/features/nightly/{run}//', 'r1')).toBe('s3a://b/features/nightly/r1');
    expect(resolveRunOutput('s3a://b/features/run-1/', 'r1')).toBe('s3a://b/features/run-1/');
    expect(hasRunPlaceholder('s3a://b/features/x{run}')).toBe(false);
  });

  it('names a misplaced placeholder and a run name that cannot be a folder', () => {
    expect(runPlaceholderProblem('s3a://b/{run}/features', 'output')).toMatch(/output "s3a:\/\/b\/\{run\}\/features" has \{run\} elsewhere than as its whole last segment: write it as <root>\/\{run\}/);
    expect(runPlaceholderProblem('s3a://b/x{run}', 'output')).toMatch(/elsewhere/);
    expect(runPlaceholderProblem('s3a://b/features/{run}/', 'output')).toBeUndefined();
    expect(() => resolveRunOutput('s3a://b/f/{run}', 'Bad Name')).toThrow('run name "Bad Name" cannot replace {run} in s3a://b/f/{run}');
  });
});
