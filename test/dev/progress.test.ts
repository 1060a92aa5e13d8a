import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INFERENCE_DESCRIPTION, progressLine, summarize } from '../../src/dev/progress.ts';
import { REPO_ROOT } from '../../src/paths.ts';

describe('job progress', () => {
  it('matches the description the job sets on its inference stages', () => {
    const job = readFileSync(join(REPO_ROOT, 'spark-images', 'orchard_featurize', 'job.py'), 'utf8');
    expect(job).toContain(`INFERENCE_DESCRIPTION = "${INFERENCE_DESCRIPTION}"`);
  });

  it('reads images from the inference scan stage and ignores other jobs', () => {
    expect(summarize([{ description: 'listing', inputRecords: 3030, numCompleteTasks: 2, numTasks: 2 }])).toBeUndefined();
    expect(
      summarize([
        { description: INFERENCE_DESCRIPTION, inputRecords: 1200, numCompleteTasks: 1, numTasks: 4, status: 'ACTIVE' },
        { description: INFERENCE_DESCRIPTION, inputRecords: 0, numCompleteTasks: 0, numTasks: 1, status: 'PENDING' },
        { description: 'listing', inputRecords: 3030, numCompleteTasks: 2, numTasks: 2 },
      ]),
    ).toEqual({ imagesRead: 1200, tasksDone: 1, tasks: 5 });
  });

  it('draws a bar with rate and ETA', () => {
    expect(progressLine(1200, 3030, 60, 10)).toBe('[####------]  1,200/3,030 images  20.0 img/s  ETA 1m32s');
    expect(progressLine(0, 3030, 0, 10)).toBe('[----------]  0/3,030 images  0.0 img/s  ETA --');
    expect(progressLine(3030, 3030, 150, 10)).toBe('[##########]  3,030/3,030 images  20.2 img/s  done');
  });
});
