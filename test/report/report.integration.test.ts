import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../../src/dev/tools.ts';
import { OrchardError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { REPO_ROOT } from '../../src/paths.ts';
import { collectReportData } from '../../src/report/data.ts';
import { renderReport } from '../../src/report/render.ts';
import { writeReport } from '../../src/report/write.ts';
import { s3Client } from '../../src/s3/client.ts';
import { writeDataset } from '../support/dataset.ts';
import { featureParquet } from '../support/feature-file.ts';
import { probeMetrics } from '../support/probe.ts';
import { stack } from '../support/kube.ts';

/**
 * Beside vitest's own reports, outside the test stack's state folder, which `orchard dev down`
 * deletes: the page and its screenshot stay there to be looked at after the run.
 */
const ARTIFACTS = join(REPO_ROOT, '.orchard', 'reports', 'feature-report');

const LABELS = ['Apple Braeburn', 'Apricot', 'Banana', 'Cherry 1', 'Kiwi', 'Lemon', 'Mango', 'Pear <Forelle> & "Co"'];
const K = 8;
// Wide enough that the features column dwarfs label and pca, as 2,048 floats do in the real files.
const FEATURE_WIDTH = 512;
const FAILURES = [
  { path: 's3a://orchard-dev/fruits-360/Training/Banana/broken.jpg', reason: 'cannot identify image file <b>bold</b>' },
  { path: 's3a://orchard-dev/fruits-360/Training/Pear/empty.jpg', reason: 'empty file' },
];

/** Deterministic noise in [-0.5, 0.5): incompressible floats, so snappy cannot shrink the features column. */
function noise(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32 - 0.5;
  };
}

interface Written {
  readonly uri: string;
  readonly rows: number;
  readonly bytes: number;
  readonly labels: Record<string, number>;
  readonly fileLabels: readonly (readonly string[])[];
}

/**
 * Writes an output laid out as the featurize job writes one: sorted Parquet parts with path,
 * label, features and (unless `pca` is false) pca, `_SUCCESS`, the job's metrics, and a PCA model
 * whose own Parquet under `_orchard/` a dataset reader must skip.
 */
async function writeOutput(s3: S3Client, bucket: string, options: { files: number; rowsPerFile: number; pca: boolean }): Promise<Written> {
  const prefix = `reports/${randomBytes(4).toString('hex')}/`;
  const random = noise(7);
  const rows = options.files * options.rowsPerFile;
  const labels: Record<string, number> = {};
  const fileLabels: string[][] = [];
  const puts: Promise<unknown>[] = [];
  let bytes = 0;
  for (let f = 0; f < options.files; f += 1) {
    // Rows sorted by path, and paths grouped by class folder, as the job writes them.
    const rowLabels = Array.from({ length: options.rowsPerFile }, (_, r) => LABELS[Math.floor(((f * options.rowsPerFile + r) * LABELS.length) / rows)]!);
    for (const label of rowLabels) labels[label] = (labels[label] ?? 0) + 1;
    fileLabels.push(rowLabels);
    const body = featureParquet({
      path: rowLabels.map((label, r) => `s3a://${bucket}/fruits-360/Training/${label}/${f}-${r}.jpg`),
      label: rowLabels,
      features: rowLabels.map(() => Array.from({ length: FEATURE_WIDTH }, random)),
      ...(options.pca
        ? {
            pca: rowLabels.map((label) => {
              const angle = (2 * Math.PI * LABELS.indexOf(label)) / LABELS.length;
              return [10 * Math.cos(angle) + random(), 10 * Math.sin(angle) + random(), ...Array.from({ length: K - 2 }, random)];
            }),
          }
        : {}),
    });
    bytes += body.length;
    puts.push(s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}part-${String(f).padStart(5, '0')}-c000.snappy.parquet`, Body: body })));
  }
  const explained = Array.from({ length: K }, (_, i) => 0.3 / 1.6 ** i);
  const metrics = {
    schema: 'orchard.featurize.metrics/v1',
    input: `s3a://${bucket}/fruits-360/Training/`,
    output: `s3a://${bucket}/${prefix}`,
    images: { found: rows + FAILURES.length, considered: rows + FAILURES.length, decoded: rows, failed: FAILURES.length, failures: FAILURES },
    rows_written: rows,
    label_counts: labels,
    pca: options.pca ? { k: K, source: 'fitted', reused_from: null, centred: true, explained_variance: explained, explained_variance_total: explained.reduce((a, b) => a + b, 0) } : null,
    files: [],
    success_manifest: null,
    // The probe failed its gate, and its worst class carries markup: the report must show both as text.
    probe: {
      ...probeMetrics(0.84, 0.9),
      classes: LABELS.length,
      worst_classes: [
        { label: LABELS[7], recall: 0.25, images: 12, confused_with: 'Apple Braeburn' },
        { label: 'Apple Braeburn', recall: 0.5, images: 14, confused_with: LABELS[7] },
      ],
    },
    timings: { wall_s: 61.2, inference_s: 48.9, pca_s: 4.1, probe_s: 2.2, write_s: 3.3 },
    images_per_second: 24.5,
    images_per_second_wall: 19.6,
    model: { name: 'resnet50', weights: 'random', sha256: 'ab12' },
  };
  puts.push(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}_orchard/metrics.json`, Body: JSON.stringify(metrics) })),
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}_orchard/pca-model/data/part-00000.snappy.parquet`, Body: 'not the dataset' })),
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}_SUCCESS`, Body: new Uint8Array(0) })),
  );
  await Promise.all(puts);
  return { uri: `s3a://${bucket}/${prefix}`, rows, bytes, labels, fileLabels };
}

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('feature-extraction report', () => {
  const log = createLogger({ component: 'report-test' });
  let s3: S3Client;
  let bucket: string;
  let browser: Browser;
  let output: Written;

  beforeAll(async () => {
    s3 = s3Client(stack().s3);
    bucket = stack().s3.bucket;
    const executablePath = requireTool('chromium');
    output = await writeOutput(s3, bucket, { files: 3, rowsPerFile: 200, pca: true });
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    await rm(ARTIFACTS, { recursive: true, force: true });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    s3?.destroy();
  });

  it('reads metrics and only the label and pca columns, renders, and shows every plot in Chromium offline', async () => {
    const data = await collectReportData(s3, output.uri);
    expect(data.files.map((file) => file.rows)).toEqual([200, 200, 200]);
    expect(data.files.reduce((sum, file) => sum + file.bytes, 0)).toBe(output.bytes);
    expect(data.scatter?.points).toHaveLength(output.rows);
    expect(data.scatter?.points.map((p) => p.label)).toEqual(output.fileLabels.flat());
    expect(data.labelCounts).toEqual(output.labels);
    expect(data.images.failures).toEqual(FAILURES);
    // A 64 KiB footer read and two small column chunks per file, against ~400 KiB of features in each.
    expect(data.fetched.bytes).toBeLessThan(output.bytes / 4);

    const html = renderReport(data, {
      title: 'Report test',
      stageTimings: { 'local stack': 3.2, 'upload images to S3': 1.4, 'feature extraction (spark-submit, local mode)': 61.9 },
      parquetOutput: { name: 'featurize-abc123-0', phase: 'Recorded', rows: output.rows, files: 3, bytes: output.bytes },
      generatedAt: new Date('2026-11-24T08:00:00Z'),
    });
    const written = await writeReport(join(ARTIFACTS, 'report.html'), html);
    expect(await readFile(written.path, 'utf8')).toBe(html);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const fileUrl = pathToFileURL(written.path).href;
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    // Anything but the file itself would be a network dependency: refuse it and let the assertions below fail.
    await page.route('**/*', (route) => (route.request().url() === fileUrl ? route.continue() : route.abort('blockedbyclient')));
    await page.goto(fileUrl, { waitUntil: 'load' });

    const expected = { variance: ['rect.bar', K], scatter: ['circle', output.rows], classes: ['rect.bar', LABELS.length], failures: ['tbody tr', FAILURES.length] } as const;
    for (const [name, [marks, count]] of Object.entries(expected)) {
      const plot = page.locator(`[data-plot="${name}"]`);
      const box = await plot.boundingBox();
      expect(box?.width, name).toBeGreaterThan(0);
      expect(box?.height, name).toBeGreaterThan(0);
      expect(await plot.locator(marks).count(), name).toBe(count);
      const mark = await plot.locator(marks).first().boundingBox();
      expect(mark && mark.width * mark.height, `${name}: first ${marks}`).toBeGreaterThan(0);
    }
    expect(await page.locator('[data-plot="failures"] tbody').innerText()).toContain('cannot identify image file <b>bold</b>');
    expect(await page.locator('[data-plot="classes"]').innerText()).toContain('Pear <Forelle> & "Co"');
    // The quality section: the accuracy against its gate, and the worst classes with what they are taken for.
    const quality = page.locator('[data-plot="quality"]');
    expect((await quality.boundingBox())?.height).toBeGreaterThan(0);
    expect(await quality.locator('.accuracy').innerText()).toMatch(/at top-1 84\.0 % \(chance: 12\.5 %\) and top-5 100\.0 %.*Below the quality gate of 90\.0 %/s);
    expect(await quality.locator('.bad').isVisible()).toBe(true);
    expect(await quality.locator('table.worst tbody tr').allInnerTexts()).toEqual(['Pear <Forelle> & "Co"\t25.0 %\t12\tApple Braeburn', 'Apple Braeburn\t50.0 %\t14\tPear <Forelle> & "Co"']);
    expect(await page.locator('script').count()).toBe(0);

    // The legend's CSS highlight: hovering one class fades every other series.
    const series = page.locator('[data-plot="scatter"] g.series');
    await page.locator('[data-plot="scatter"] .legend li').first().hover();
    // Polled: the browser applies :hover on its next frame, not when the mouse event is sent.
    const opacities = async () => (await series.evaluateAll((groups) => groups.map((g) => getComputedStyle(g).opacity))).sort();
    await expect.poll(opacities, { timeout: 5_000 }).toEqual([...Array.from({ length: LABELS.length - 1 }, () => '0.06'), '1']);
    await page.mouse.move(0, 0);
    await expect.poll(opacities, { timeout: 5_000 }).toEqual(Array.from({ length: LABELS.length }, () => '1'));
    const screenshot = join(ARTIFACTS, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.close();

    expect(problems).toEqual([]);
    expect(requests).toEqual([fileUrl]);
    const png = await readFile(screenshot);
    const size = pngSize(png);
    expect(size.width).toBe(1280);
    expect(size.height).toBeGreaterThan(900);
    expect(png.length).toBeGreaterThan(50_000);
    log.info('report rendered', { html: written.path, htmlBytes: written.bytes, screenshot, pngBytes: png.length, fetchedBytes: data.fetched.bytes, dataBytes: output.bytes });
  });

  it('samples the scatter evenly and deterministically across files', async () => {
    const first = await collectReportData(s3, output.uri, { maxPoints: 30 });
    const again = await collectReportData(s3, output.uri, { maxPoints: 30 });
    expect(first.scatter?.rows).toBe(output.rows);
    expect(first.scatter?.points).toHaveLength(30);
    expect(again.scatter).toEqual(first.scatter);
    // Every 20th row in path order: rows 0, 20, ..., 580, which reach every class.
    expect(first.scatter?.points.map((p) => p.label)).toEqual(Array.from({ length: 30 }, (_, j) => output.fileLabels.flat()[j * 20]));
    expect(new Set(first.scatter?.points.map((p) => p.label))).toEqual(new Set(LABELS));
  });

  it('reads only footers when PCA was off', async () => {
    const plain = await writeOutput(s3, bucket, { files: 2, rowsPerFile: 50, pca: false });
    const data = await collectReportData(s3, plain.uri);
    expect(data.pca).toBeNull();
    expect(data.scatter).toBeNull();
    expect(data.files.map((file) => file.rows)).toEqual([50, 50]);
    // metrics.json and one footer read per file; no column chunk.
    expect(data.fetched.requests).toBe(1 + 1 + 2);
  });

  it('refuses an output without job metrics, saying what to do', async () => {
    const uri = `s3a://${bucket}/reports/${randomBytes(4).toString('hex')}/`;
    const error = await collectReportData(s3, uri).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrchardError);
    expect((error as OrchardError).message).toContain('_orchard/metrics.json does not exist');
    expect((error as OrchardError).hint).toContain('driver log');
  });

  it("reads an incremental run's lineage and its parent's images per class, and does without a parent that is gone", async () => {
    const root = `reports/${randomBytes(4).toString('hex')}`;
    const parent = await writeDataset(s3, bucket, `${root}/run-1`, { files: 2, rowsPerFile: 3 });
    const lineage = { mode: 'incremental', parent: parent.uri, reason: 'newest complete dataset', images: { reused: 6, featurized: 3, removed: 0 }, pca: { action: 'off', reason: '--pca-components 0', explained_variance_fitted: null, explained_variance_new: null } };
    const child = await writeDataset(s3, bucket, `${root}/run-2`, { files: 3, rowsPerFile: 3, lineage });
    const data = await collectReportData(s3, child.uri);
    expect(data.lineage).toMatchObject({ mode: 'incremental', parent: parent.uri, images: { reused: 6, featurized: 3, removed: 0 } });
    expect(data.parentLabelCounts).toEqual(parent.labels);
    expect(renderReport(data, { generatedAt: new Date(0) })).toMatch(/Images added and removed per class, against the parent/);

    const orphan = await writeDataset(s3, bucket, `${root}/run-3`, { files: 1, rowsPerFile: 2, lineage: { ...lineage, parent: `s3a://${bucket}/${root}/gone/` } });
    expect((await collectReportData(s3, orphan.uri)).parentLabelCounts).toBeNull();
  });
});
