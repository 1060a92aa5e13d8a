import { describe, expect, it } from 'vitest';
import type { FailedImage, ReportData, ScatterPoint } from '../../src/report/data.ts';
import { classChanges, MAX_FAILURE_ROWS, renderReport, type ReportContext } from '../../src/report/render.ts';
import { featureQualityOf } from '../../src/api/job-metrics.ts';
import { incrementalLineage } from '../support/lineage.ts';
import { probeMetrics, skippedProbeMetrics } from '../support/probe.ts';

const GENERATED_AT = new Date('2026-01-02T03:04:05Z');
const CONTEXT: ReportContext = { generatedAt: GENERATED_AT, stageTimings: { 'local stack': 14.2, 'feature extraction': 95.5 } };

/** A run over `labels` classes of `perLabel` images each, with `points` scatter points and k PCA components. */
function run(options: { labels?: number; perLabel?: number; points?: number; k?: number; failures?: FailedImage[]; quality?: ReportData['quality'] } = {}): ReportData {
  const { labels = 4, perLabel = 30, k = 6, failures = [] } = options;
  const names = Array.from({ length: labels }, (_, i) => `Fruit ${String(i).padStart(3, '0')}`);
  const rows = labels * perLabel;
  const wanted = Math.min(options.points ?? rows, rows);
  const points: ScatterPoint[] = Array.from({ length: wanted }, (_, j) => {
    const row = Math.floor((j * rows) / wanted);
    const angle = (2 * Math.PI * Math.floor(row / perLabel)) / labels;
    return { label: names[Math.floor(row / perLabel)]!, x: 10 * Math.cos(angle) + Math.sin(row), y: 10 * Math.sin(angle) + Math.cos(row * 7) };
  });
  const explainedVariance = Array.from({ length: k }, (_, i) => 0.4 / 2 ** i);
  return {
    outputUri: 's3a://orchard-dev/features/run-1/',
    inputUri: 's3a://orchard-dev/fruits-360/Training/',
    images: { found: rows + failures.length, considered: rows + failures.length, decoded: rows, failed: failures.length, failures },
    rowsWritten: rows,
    labelCounts: Object.fromEntries(names.map((name) => [name, perLabel])),
    pca: k > 0 ? { k, explainedVariance, explainedVarianceTotal: explainedVariance.reduce((a, b) => a + b, 0) } : null,
    quality: options.quality === undefined ? featureQualityOf(probeMetrics(0.963))! : options.quality,
    lineage: null,
    parentLabelCounts: null,
    timings: { wall_s: 120.5, inference_s: 90.25, pca_s: 12, probe_s: 3.5, write_s: 8 },
    imagesPerSecond: 33.3,
    imagesPerSecondWall: 24.9,
    model: { name: 'resnet50', weights: 'imagenet' },
    files: [{ key: 'features/run-1/part-00000-c000.snappy.parquet', bytes: rows * 8300, rows }],
    scatter: k >= 2 ? { rows, points } : null,
    fetched: { requests: 7, bytes: 123_456 },
  };
}

/** The inner HTML of one plot section. */
function plot(html: string, name: string): string {
  const match = new RegExp(`<section class="plot" data-plot="${name}">([\\s\\S]*?)</section>`).exec(html);
  if (!match) throw new Error(`no data-plot="${name}" section`);
  return match[1]!;
}

function count(text: string, pattern: RegExp): number {
  return [...text.matchAll(pattern)].length;
}

/** Every element the renderer may emit: anything else came from the data. */
const ELEMENTS = new Set(
  'html head meta link title style body header h1 h2 p b section dl dt dd div table caption thead tbody tr th td ol li i span svg g rect line polyline circle text'.split(' '),
);

describe('renderReport', () => {
  it('draws each plot in its data-plot element with one mark per component, point, class and failure', () => {
    const failures = [
      { path: 's3a://orchard-dev/fruits-360/Training/Banana/broken.jpg', reason: 'cannot identify image file' },
      { path: 's3a://orchard-dev/fruits-360/Training/Pear/empty.jpg', reason: 'empty file' },
    ];
    const html = renderReport(run({ labels: 4, perLabel: 30, k: 6, failures }), CONTEXT);
    expect(count(plot(html, 'variance'), /<rect class="bar"/g)).toBe(6);
    expect(count(plot(html, 'variance'), /<polyline class="cumulative"/g)).toBe(1);
    expect(count(plot(html, 'scatter'), /<circle /g)).toBe(120);
    expect(count(plot(html, 'scatter'), /<li class="k\d+">/g)).toBe(4);
    expect(count(plot(html, 'classes'), /<rect class="bar"/g)).toBe(4);
    expect(count(plot(html, 'failures'), /<tbody>|<tr>/g)).toBe(1 + 1 + 2);
    expect(plot(html, 'failures')).toContain('cannot identify image file');
    expect(plot(html, 'scatter')).toContain('all 120 rows');
    expect(html).toContain('Time per stage');
    expect(html).toContain('1 min 36 s');
    expect(html).toContain('2 min 1 s');
  });

  it('escapes every string from the data, so labels and failure messages cannot inject markup', () => {
    const data = run({ failures: [{ path: 's3a://b/in/<img src=x onerror=alert(1)>.jpg', reason: '"><script>alert("reason")</script>' }] });
    const evil = '<script>alert("label")</script> & \'quoted\'';
    const injected: ReportData = {
      ...data,
      inputUri: 's3a://b/<iframe src="https://example.com">/',
      labelCounts: { ...data.labelCounts, [evil]: 3 },
      scatter: { rows: data.scatter!.rows + 3, points: [...data.scatter!.points, { label: evil, x: 1, y: 2 }] },
      model: { name: '<style>body{display:none}</style>', weights: 'imagenet' },
    };
    const html = renderReport(injected, { ...CONTEXT, title: 'run </title><script>x()</script>', parquetOutput: { name: '<b>po</b>', phase: 'Recorded<br>', rows: 1, files: 1, bytes: 1 } });
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z][\w-]*)/g)].map((m) => m[1]!.toLowerCase()));
    expect([...tags].filter((tag) => !ELEMENTS.has(tag))).toEqual([]);
    expect(count(html, /<style>/g)).toBe(1);
    expect(html).not.toMatch(/<script|<iframe|<img/i);
    expect(plot(html, 'classes')).toContain('&lt;script&gt;alert(&quot;label&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
    expect(plot(html, 'failures')).toContain('&quot;&gt;&lt;script&gt;alert(&quot;reason&quot;)&lt;/script&gt;');
    expect(html).toContain('<title>run &lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;</title>');
  });

  it('shows the probe accuracy, its gate and the worst classes with what they are taken for', () => {
    const passed = plot(renderReport(run({ quality: featureQualityOf(probeMetrics(0.963, 0.9))! }), CONTEXT), 'quality');
    expect(passed).toMatch(/held-out images \(sha1\(&lt;Class&gt;\/&lt;file&gt;\), 20% held out\) at top-1 <b>96\.3 %<\/b> \(chance: 25\.0 %\) and top-5 <b>100\.0 %<\/b>/);
    expect(passed).toContain('Above the quality gate of 90.0 %');
    expect(passed).toContain('It took 3.5 s.');
    expect(count(passed, /<tr><td>/g)).toBe(4);
    expect(passed).toContain('<tr><td>Apple Braeburn</td><td class="num">50.0 %</td><td class="num">10</td><td>Cherry 1</td></tr>');
    const failed = plot(renderReport(run({ quality: featureQualityOf(probeMetrics(0.84, 0.9))! }), CONTEXT), 'quality');
    expect(failed).toContain('<b class="bad">Below the quality gate of 90.0 %</b>');
  });

  it('says why there is no accuracy when the probe was skipped or off', () => {
    expect(plot(renderReport(run({ quality: featureQualityOf(skippedProbeMetrics())! }), CONTEXT), 'quality')).toContain('The probe was skipped: 1 of 4 classes have fewer than 10 images');
    expect(plot(renderReport(run({ quality: null }), CONTEXT), 'quality')).toContain('did not measure its features');
  });

  it('shows the lineage of an incremental run with the images added and removed per class against its parent', () => {
    const lineage = incrementalLineage('s3a://orchard-dev/features/nightly/nightly-1', { reused: 110, featurized: 10, removed: 5 });
    const parentLabelCounts = { 'Fruit 000': 30, 'Fruit 001': 25, 'Fruit 002': 35, 'Fruit 003': 30, Gone: 2 };
    const html = plot(renderReport({ ...run(), lineage, parentLabelCounts }, CONTEXT), 'lineage');
    expect(html).toContain('<b>incremental</b> run from s3a://orchard-dev/features/nightly/nightly-1');
    expect(html).toContain('110 images reused, 10 featurized, 5 removed. PCA reused');
    expect(count(html, /<tr><td>/g)).toBe(3);
    expect(html).toMatch(/Fruit 001<\/td><td class="num">25<\/td><td class="num">30<\/td><td class="num">\+5/);
    expect(classChanges({ A: 3, B: 5 }, { A: 3, B: 7, C: 1 })).toEqual([
      { label: 'B', parent: 7, current: 5, change: -2 },
      { label: 'C', parent: 1, current: 0, change: -1 },
    ]);
    expect(plot(renderReport(run(), CONTEXT), 'lineage')).toContain('recorded no lineage');
    expect(plot(renderReport({ ...run(), lineage: { ...lineage, parent: undefined, mode: 'full' as const } }, CONTEXT), 'lineage')).not.toContain('<table');
  });

  it('says so explicitly when no image failed', () => {
    const failures = plot(renderReport(run(), CONTEXT), 'failures');
    expect(failures).toContain('No failed images');
    expect(failures).not.toContain('<table');
  });

  it('keeps every plot element when PCA was off, with a note instead of a chart', () => {
    const html = renderReport(run({ k: 0 }), CONTEXT);
    for (const name of ['variance', 'scatter']) {
      expect(plot(html, name)).toContain('PCA was off for this run');
      expect(plot(html, name)).not.toContain('<svg');
    }
    expect(count(plot(html, 'classes'), /<rect class="bar"/g)).toBe(4);
    expect(html).toMatch(/<dt>PCA<\/dt><dd>off<\/dd>/);
  });

  it('explains a missing scatter when the run kept a single component', () => {
    const html = renderReport(run({ k: 1 }), CONTEXT);
    expect(count(plot(html, 'variance'), /<rect class="bar"/g)).toBe(1);
    expect(plot(html, 'scatter')).toContain('a 2-D scatter needs 2 or more');
  });

  it('gives 101 classes 101 distinct colours, a legend entry and a highlight rule each', () => {
    const html = renderReport(run({ labels: 101, perLabel: 30, points: 3000 }), CONTEXT);
    const colours = [...plot(html, 'scatter').matchAll(/<g class="series s(\d+)" fill="([^"]+)"/g)];
    expect(colours).toHaveLength(101);
    expect(new Set(colours.map((m) => m[2])).size).toBe(101);
    expect(count(plot(html, 'scatter'), /<li class="k\d+">/g)).toBe(101);
    expect(count(html, /\[data-plot=scatter\]:has\(\.k\d+:hover\)/g)).toBe(101);
    expect(count(plot(html, 'classes'), /<rect class="bar"/g)).toBe(101);
    // The class chart uses the scatter's colours, so it doubles as a legend.
    const classColours = [...plot(html, 'classes').matchAll(/<rect class="bar"[^>]* fill="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(classColours)).toEqual(new Set(colours.map((m) => m[2])));
  });

  it('sorts the class chart by count, most first, then by name', () => {
    const data = run({ labels: 3 });
    const html = renderReport({ ...data, labelCounts: { Cherry: 5, apple: 9, Banana: 9 } }, CONTEXT);
    const order = [...plot(html, 'classes').matchAll(/<title>([^:<]+): \d+<\/title>/g)].map((m) => m[1]);
    expect(order).toEqual(['Banana', 'apple', 'Cherry']);
  });

  it('notes a sampled scatter and lists at most 1,000 failures', () => {
    const failures = Array.from({ length: MAX_FAILURE_ROWS + 500 }, (_, i) => ({ path: `s3a://b/in/x/${i}.jpg`, reason: 'truncated' }));
    const html = renderReport(run({ labels: 10, perLabel: 100, points: 250, failures }), CONTEXT);
    expect(plot(html, 'scatter')).toContain('250 of 1,000 rows, evenly spread in path order');
    expect(count(plot(html, 'failures'), /<tr>/g)).toBe(1 + MAX_FAILURE_ROWS);
    expect(plot(html, 'failures')).toContain('500 more in _orchard/metrics.json');
  });

  it('gives the same bytes for the same data, whatever the order of label_counts', () => {
    const data = run({ labels: 20 });
    const reversed = { ...data, labelCounts: Object.fromEntries(Object.entries(data.labelCounts).reverse()) };
    expect(renderReport(reversed, CONTEXT)).toBe(renderReport(data, CONTEXT));
    const later = renderReport(data, { ...CONTEXT, generatedAt: new Date('2026-01-02T03:04:06Z') });
    expect(later.replace('03:04:06', '03:04:05')).toBe(renderReport(data, CONTEXT));
  });

  it('stays small: 5,000 points over 101 classes in well under 600 KB', () => {
    const html = renderReport(run({ labels: 101, perLabel: 60, points: 5000 }), CONTEXT);
    expect(count(plot(html, 'scatter'), /<circle /g)).toBe(5000);
    expect(Buffer.byteLength(html)).toBeLessThan(600_000);
  });
});
