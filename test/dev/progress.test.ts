import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imagesInferred, INFERENCE_DESCRIPTION, progressLine } from '../../src/dev/progress.ts';
import { REPO_ROOT } from '../../src/paths.ts';

describe('job progress', () => {
  it('matches the description the job sets on its inference stages', () => {
    const job = readFileSync(join(REPO_ROOT, 'spark-images', 'orchard_featurize', 'job.py'), 'utf8');
    expect(job).toContain(`INFERENCE_DESCRIPTION = "${INFERENCE_DESCRIPTION}"`);
  });

  it('reads the images inferred from the Python UDF node of the inference execution', () => {
    // Shaped as Spark 3.5.8's /sql?details=true answered during a demo run.
    const execution = (rows: string) => ({
      description: INFERENCE_DESCRIPTION,
      status: 'RUNNING',
      nodes: [
        { nodeName: 'Scan binaryFile', metrics: [{ name: 'number of output rows', value: '3,030' }] },
        { nodeName: 'ArrowEvalPython', metrics: [{ name: 'data sent to Python workers', value: 'total (min, med, max (stageId: taskId))\n572.3 KiB' }, { name: 'number of output rows', value: rows }] },
      ],
    });
    expect(imagesInferred([{ description: 'listing', nodes: [] }])).toBeUndefined();
    expect(imagesInferred([{ description: 'listing' }, execution('1,200')])).toBe(1200);
    expect(imagesInferred([{ description: INFERENCE_DESCRIPTION, nodes: [{ nodeName: 'ArrowEvalPython' }] }])).toBe(0);
  });

  it('draws a bar with rate and ETA', () => {
    expect(progressLine(1200, 3030, 60, 10)).toBe('[####------]  1,200/3,030 images  20.0 img/s  ETA 1m32s');
    expect(progressLine(0, 3030, 0, 10)).toBe('[----------]  0/3,030 images  0.0 img/s  ETA --');
    expect(progressLine(3030, 3030, 150, 10)).toBe('[##########]  3,030/3,030 images  20.2 img/s  done');
  });
});
