import { formatBytes } from '../format.ts';
import type { ReportData, ScatterPoint } from './data.ts';

export interface ReportContext {
  /** The page title and heading. @default "Feature extraction report" */
  readonly title?: string;
  /** Seconds per stage of the run that produced the output, in the order they ran (the demo's stages). */
  readonly stageTimings?: Readonly<Record<string, number>>;
  /** The ParquetOutput the controller recorded for this output, if there is one. */
  readonly parquetOutput?: { readonly name: string; readonly phase: string; readonly rows: number; readonly files: number; readonly bytes: number };
  /** Printed in the page; injected so the same data gives the same bytes. */
  readonly generatedAt: Date;
}

/**
 * Failure rows shown at most: a run over a broken bucket can fail on every image, and the full list
 * stays in metrics.json.
 */
export const MAX_FAILURE_ROWS = 1_000;

/** Class names longer than this are cut in the bar chart's axis; the tooltip has the whole name. */
const LABEL_CHARS = 34;

/**
 * The report as one self-contained HTML page: hand-written SVG and inline CSS, no script, and a
 * Content-Security-Policy that forbids every fetch, so it renders the same offline, from a file,
 * an artifact store or a mail attachment. Every string from the data is escaped: class names and
 * failure messages come from the bucket.
 */
export function renderReport(data: ReportData, context: ReportContext): string {
  const title = context.title ?? 'Feature extraction report';
  const palette = new Palette(data);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // An explicit empty icon: otherwise a browser asks for /favicon.ico next to the file.
    '<link rel="icon" href="data:,">',
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}${palette.highlightRules()}</style>`,
    '</head>',
    '<body>',
    `<header><h1>${esc(title)}</h1><p class="sub">${esc(data.outputUri)} · generated ${esc(context.generatedAt.toISOString())}</p></header>`,
    summary(data, context),
    qualitySection(data),
    varianceChart(data.pca),
    scatterChart(data, palette),
    classChart(data, palette),
    lineageSection(data),
    failureTable(data),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function summary(data: ReportData, context: ReportContext): string {
  const rows = data.files.reduce((sum, file) => sum + file.rows, 0);
  const bytes = data.files.reduce((sum, file) => sum + file.bytes, 0);
  const { images } = data;
  const facts: [string, string][] = [
    ['input', esc(data.inputUri)],
    ['output', esc(data.outputUri)],
    ['images', `${int(images.found)} found · ${int(images.considered)} read · ${int(images.decoded)} decoded · ${int(images.failed)} failed`],
    ['rows', rows === data.rowsWritten ? int(rows) : `${int(rows)} in the files, but the job says it wrote ${int(data.rowsWritten)}`],
    ['Parquet files', `${int(data.files.length)} · ${size(bytes)}`],
    ['classes', int(Object.keys(data.labelCounts).length)],
    ['images per second', `${rate(data.imagesPerSecond)} in inference · ${rate(data.imagesPerSecondWall)} over the whole job`],
    ['PCA', data.pca ? `${int(data.pca.k)} components · ${percent(data.pca.explainedVarianceTotal)} of the variance` : 'off'],
  ];
  if (data.model) facts.push(['model', `${esc(data.model.name)} (${esc(data.model.weights)} weights)`]);
  const po = context.parquetOutput;
  if (po) facts.push(['ParquetOutput', `${esc(po.name)} · <b>${esc(po.phase)}</b> · ${int(po.rows)} rows · ${int(po.files)} ${po.files === 1 ? 'file' : 'files'} · ${size(po.bytes)}`]);
  facts.push(['read for this report', `${size(data.fetched.bytes)} in ${int(data.fetched.requests)} requests`]);
  const warning =
    data.model?.weights === 'random'
      ? '<p class="warn">The model ran with random weights (no pretrained weights on this machine): the features are not ImageNet features, though a linear probe still finds the classes in them.</p>'
      : '';
  return [
    '<section class="summary">',
    `<dl>${facts.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('')}</dl>`,
    warning,
    '<div class="timings">',
    context.stageTimings && Object.keys(context.stageTimings).length > 0 ? timingTable('Time per stage', context.stageTimings) : '',
    Object.keys(data.timings).length > 0 ? timingTable('Job timings (from its metrics)', Object.fromEntries(Object.entries(data.timings).map(([stage, s]) => [stage.replace(/_s$/, ''), s]))) : '',
    '</div>',
    '</section>',
  ].join('\n');
}

function timingTable(caption: string, timings: Readonly<Record<string, number>>): string {
  const entries = Object.entries(timings);
  const longest = Math.max(...entries.map(([, seconds]) => seconds), Number.MIN_VALUE);
  const rows = entries.map(
    ([stage, seconds]) =>
      `<tr><td>${esc(stage)}</td><td class="num">${duration(seconds)}</td><td class="share"><span style="width:${fixed((100 * seconds) / longest)}%"></span></td></tr>`,
  );
  return `<table class="timing"><caption>${esc(caption)}</caption><tbody>${rows.join('')}</tbody></table>`;
}

/** What the features are worth: the probe's accuracy against its gate, and the classes it gets wrong most. */
function qualitySection(data: ReportData): string {
  const heading = '<h2>Feature quality: linear probe</h2>';
  const q = data.quality;
  if (!q) return plot('quality', heading, empty('The job did not measure its features (--no-probe, or a job from before the probe).'));
  if (q.top1 === undefined) return plot('quality', heading, empty(`The probe was skipped: ${q.skipped ?? 'the job recorded no accuracy'}.`));
  const below = q.minTop1 !== undefined && q.top1 < q.minTop1;
  const gate =
    q.minTop1 === undefined ? '' : below ? ` <b class="bad">Below the quality gate of ${percent(q.minTop1)}</b>: the controller records the dataset Incomplete.` : ` <span class="ok">Above the quality gate of ${percent(q.minTop1)}.</span>`;
  const column = q.features === undefined ? '' : ` of the <b>${esc(q.features)}</b> column (${int(q.width ?? 0)} wide)`;
  const full = q.fullWidthTop1 === undefined ? '' : ` On the full ${int(2048)} features: ${percent(q.fullWidthTop1)} top-1.`;
  const chance = q.classes ? ` (chance: ${percent(1 / q.classes)})` : '';
  const cost = data.timings.probe_s === undefined ? '' : ` It took ${duration(data.timings.probe_s)}.`;
  const lead =
    `<p class="accuracy">A ${esc(q.method)} classifier on the features${column} predicts the class of <b>${int(q.testImages ?? 0)}</b> held-out images ` +
    `(${esc(q.split)}) at top-1 <b>${percent(q.top1)}</b>${chance} and top-5 <b>${percent(q.top5 ?? 0)}</b>.${full}${gate}${cost}</p>`;
  const worst = q.worstClasses ?? [];
  const rows = worst
    .map((c) => `<tr><td>${esc(display(c.label))}</td><td class="num">${percent(c.recall)}</td><td class="num">${int(c.images)}</td><td>${c.confusedWith === undefined ? '' : esc(display(c.confusedWith))}</td></tr>`)
    .join('');
  const table = worst.length
    ? `<table class="worst"><caption>Worst classes</caption><thead><tr><th>class</th><th>recall</th><th>held out</th><th>most often taken for</th></tr></thead><tbody>${rows}</tbody></table>`
    : '';
  return plot('quality', heading, `${lead}${table}`);
}

function varianceChart(pca: ReportData['pca']): string {
  const heading = '<h2>PCA explained variance</h2>';
  if (!pca) return plot('variance', heading, empty('PCA was off for this run (--pca-components 0): there is no explained variance to show.'));
  const ev = pca.explainedVariance;
  if (ev.length === 0) return plot('variance', heading, empty('The job recorded no explained variance.'));
  const W = 760;
  const H = 280;
  const m = { left: 56, right: 56, top: 16, bottom: 40 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const top = Math.max(...ev) || 1;
  const band = pw / ev.length;
  const baseline = m.top + ph;
  const parts: string[] = [];
  for (const tick of [0, 0.5, 1]) {
    const y = baseline - tick * ph;
    parts.push(`<line class="grid" x1="${m.left}" x2="${m.left + pw}" y1="${fixed(y)}" y2="${fixed(y)}"/>`);
    parts.push(`<text class="tick" x="${m.left - 6}" y="${fixed(y + 4)}" text-anchor="end">${percent(tick * top)}</text>`);
    parts.push(`<text class="tick cum" x="${m.left + pw + 6}" y="${fixed(y + 4)}">${percent(tick)}</text>`);
  }
  let cumulative = 0;
  const line: string[] = [];
  const step = Math.ceil(ev.length / 12);
  ev.forEach((value, i) => {
    const h = (value / top) * ph;
    const x = m.left + i * band;
    parts.push(
      `<rect class="bar" x="${fixed(x + band * 0.1)}" y="${fixed(baseline - h)}" width="${fixed(Math.max(band * 0.8, 0.5))}" height="${fixed(h)}"><title>PC${i + 1}: ${percent(value)}</title></rect>`,
    );
    cumulative += value;
    line.push(`${fixed(x + band / 2)},${fixed(baseline - Math.min(cumulative, 1) * ph)}`);
    if (i % step === 0) parts.push(`<text class="tick" x="${fixed(x + band / 2)}" y="${baseline + 16}" text-anchor="middle">PC${i + 1}</text>`);
  });
  parts.push(`<polyline class="cumulative" points="${line.join(' ')}"/>`);
  parts.push(`<text class="axis" x="${m.left}" y="${H - 4}">per component (bars, left axis) · cumulative (line, right axis)</text>`);
  const caption = `<p class="caption">${int(pca.k)} components explain ${percent(pca.explainedVarianceTotal)} of the variance of the ResNet50 features.</p>`;
  return plot('variance', heading, `${svg(W, H, 'PCA explained variance per component and cumulative', parts)}${caption}`);
}

function scatterChart(data: ReportData, palette: Palette): string {
  const heading = '<h2>PCA: first two components</h2>';
  if (!data.pca) return plot('scatter', heading, empty('PCA was off for this run (--pca-components 0): there are no components to plot.'));
  if (!data.scatter) return plot('scatter', heading, empty(`The run kept ${int(data.pca.k)} PCA component: a 2-D scatter needs 2 or more.`));
  const { points, rows } = data.scatter;
  if (points.length === 0) return plot('scatter', heading, empty('The output has no rows.'));
  const W = 640;
  const H = 520;
  const m = { left: 64, right: 16, top: 16, bottom: 40 };
  const x = scale(points.map((p) => p.x), m.left, W - m.right);
  const y = scale(points.map((p) => p.y), H - m.bottom, m.top);
  const parts: string[] = [];
  for (const tick of x.ticks) {
    const at = fixed(x.at(tick));
    parts.push(`<line class="grid" x1="${at}" x2="${at}" y1="${m.top}" y2="${H - m.bottom}"/>`);
    parts.push(`<text class="tick" x="${at}" y="${H - m.bottom + 16}" text-anchor="middle">${short(tick)}</text>`);
  }
  for (const tick of y.ticks) {
    const at = y.at(tick);
    parts.push(`<line class="grid" x1="${m.left}" x2="${W - m.right}" y1="${fixed(at)}" y2="${fixed(at)}"/>`);
    parts.push(`<text class="tick" x="${m.left - 6}" y="${fixed(at + 4)}" text-anchor="end">${short(tick)}</text>`);
  }
  parts.push(`<rect class="frame" x="${m.left}" y="${m.top}" width="${W - m.left - m.right}" height="${H - m.top - m.bottom}"/>`);
  parts.push(`<text class="axis" x="${fixed((m.left + W - m.right) / 2)}" y="${H - 4}" text-anchor="middle">PC1</text>`);
  parts.push(`<text class="axis" x="12" y="${fixed((m.top + H - m.bottom) / 2)}" transform="rotate(-90 12 ${fixed((m.top + H - m.bottom) / 2)})" text-anchor="middle">PC2</text>`);

  const byLabel = new Map<string, ScatterPoint[]>();
  for (const point of points) {
    const members = byLabel.get(point.label);
    if (members) members.push(point);
    else byLabel.set(point.label, [point]);
  }
  // Large classes first, so that small ones are drawn on top of them rather than hidden.
  const series = [...byLabel.entries()].sort(([a], [b]) => palette.index(a) - palette.index(b));
  for (const [label, members] of series) {
    const i = palette.index(label);
    const circles = members.map((p) => `<circle cx="${fixed(x.at(p.x))}" cy="${fixed(y.at(p.y))}" r="2.4"/>`).join('');
    parts.push(`<g class="series s${i}" fill="${palette.colour(label)}"><title>${esc(display(label))}</title>${circles}</g>`);
  }
  const legend = series
    .map(([label, members]) => `<li class="k${palette.index(label)}"><i style="background:${palette.colour(label)}"></i>${esc(display(label))} <span class="n">${int(members.length)}</span></li>`)
    .join('');
  const sampled = points.length < rows ? `${int(points.length)} of ${int(rows)} rows, evenly spread in path order` : `all ${int(rows)} rows`;
  return plot(
    'scatter',
    heading,
    `<div class="scatter">${svg(W, H, 'PCA scatter of the first two components, coloured by class', parts)}<ol class="legend">${legend}</ol></div><p class="caption">${sampled}; ${int(series.length)} classes. Hover a class in the legend to show it alone.</p>`,
  );
}

function classChart(data: ReportData, palette: Palette): string {
  const heading = '<h2>Images per class</h2>';
  const counts = Object.entries(data.labelCounts).sort(([a, n], [b, k]) => k - n || compare(a, b));
  if (counts.length === 0) return plot('classes', heading, empty('No image was decoded, so there are no classes.'));
  const row = 16;
  const labelWidth = 240;
  const barWidth = 440;
  const W = labelWidth + barWidth + 70;
  const H = counts.length * row + 8;
  const most = counts[0]![1] || 1;
  const parts = counts.map(([label, n], i) => {
    const y = 4 + i * row;
    const name = display(label);
    const cut = name.length > LABEL_CHARS ? `${name.slice(0, LABEL_CHARS - 1)}…` : name;
    const w = (n / most) * barWidth;
    return (
      `<g><title>${esc(name)}: ${int(n)}</title>` +
      `<text class="tick" x="${labelWidth - 6}" y="${y + 12}" text-anchor="end">${esc(cut)}</text>` +
      `<rect class="bar" x="${labelWidth}" y="${y + 2}" width="${fixed(Math.max(w, 0.5))}" height="${row - 4}" fill="${palette.colour(label)}"/>` +
      `<text class="tick" x="${fixed(labelWidth + w + 4)}" y="${y + 12}">${int(n)}</text></g>`
    );
  });
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  return plot('classes', heading, `${svg(W, H, 'Decoded images per class, most first', parts)}<p class="caption">${int(counts.length)} classes, ${int(total)} decoded images.</p>`);
}

/** Images added and removed per class against the parent: a count that grew gained images, one that shrank lost some. */
export function classChanges(current: Readonly<Record<string, number>>, parent: Readonly<Record<string, number>>): { label: string; parent: number; current: number; change: number }[] {
  const labels = [...new Set([...Object.keys(current), ...Object.keys(parent)])];
  return labels
    .map((label) => ({ label, parent: parent[label] ?? 0, current: current[label] ?? 0, change: (current[label] ?? 0) - (parent[label] ?? 0) }))
    .filter((c) => c.change !== 0)
    .sort((a, b) => Math.abs(b.change) - Math.abs(a.change) || compare(a.label, b.label));
}

/** Where the dataset came from: a full run, or an incremental one with its parent, what it reused and how PCA was chosen. */
function lineageSection(data: ReportData): string {
  const heading = '<h2>Lineage</h2>';
  const l = data.lineage;
  if (!l) return plot('lineage', heading, empty('The job recorded no lineage (a job from before incremental runs).'));
  const { reused, featurized, removed } = l.images;
  const variance = [l.pca.explainedVarianceFitted, l.pca.explainedVarianceNew].every((v) => v !== undefined)
    ? ` (explains ${percent(l.pca.explainedVarianceNew!)} of the new rows' variance, ${percent(l.pca.explainedVarianceFitted!)} when fitted)`
    : '';
  const lead =
    `<p><b>${esc(l.mode)}</b> run${l.parent ? ` from ${esc(l.parent)}` : ''}: ${esc(l.reason)}. ` +
    `${int(reused)} images reused, ${int(featurized)} featurized, ${int(removed)} removed. PCA ${esc(l.pca.action)}: ${esc(l.pca.reason)}${variance}.</p>`;
  if (!l.parent) return plot('lineage', heading, lead);
  if (!data.parentLabelCounts) return plot('lineage', heading, `${lead}${empty("The parent's metrics could not be read, so the change per class is not shown.")}`);
  const changes = classChanges(data.labelCounts, data.parentLabelCounts);
  if (changes.length === 0) return plot('lineage', heading, `${lead}<p class="ok">Every class holds as many images as in the parent.</p>`);
  const rows = changes.map(
    (c) => `<tr><td>${esc(display(c.label))}</td><td class="num">${int(c.parent)}</td><td class="num">${int(c.current)}</td><td class="num">${c.change > 0 ? `+${int(c.change)}` : `&minus;${int(-c.change)}`}</td></tr>`,
  );
  return plot(
    'lineage',
    heading,
    `${lead}<table class="lineage"><caption>Images added and removed per class, against the parent (net: a changed image counts in neither)</caption>` +
      `<thead><tr><th>class</th><th>parent</th><th>this run</th><th>change</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

function failureTable(data: ReportData): string {
  const { failures } = data.images;
  const heading = `<h2>Failed images (${int(failures.length)})</h2>`;
  if (failures.length === 0) return plot('failures', heading, '<p class="ok">No failed images: every image read was decoded.</p>');
  const shown = failures.slice(0, MAX_FAILURE_ROWS);
  const rows = shown.map((f, i) => `<tr><td class="num">${i + 1}</td><td class="path">${esc(f.path)}</td><td>${esc(f.reason)}</td></tr>`).join('');
  const more = failures.length > shown.length ? `<p class="caption">${int(failures.length - shown.length)} more in _orchard/metrics.json.</p>` : '';
  return plot('failures', heading, `<table class="failures"><thead><tr><th>#</th><th>path</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table>${more}`);
}

/**
 * One colour per class. Hues step by the golden angle, so that neighbours in the order are far
 * apart on the colour wheel however many classes there are, and three lightness bands separate
 * classes whose hues land close. Classes are ordered by size, so the biggest get the most distinct
 * colours; the same counts always give the same colours.
 */
class Palette {
  private readonly order = new Map<string, number>();

  constructor(data: ReportData) {
    const counts = Object.entries(data.labelCounts).sort(([a, n], [b, k]) => k - n || compare(a, b));
    for (const [label] of counts) this.order.set(label, this.order.size);
    const extra = [...new Set((data.scatter?.points ?? []).map((p) => p.label))].filter((label) => !this.order.has(label)).sort(compare);
    for (const label of extra) this.order.set(label, this.order.size);
  }

  index(label: string): number {
    return this.order.get(label)!;
  }

  colour(label: string): string {
    const i = this.index(label);
    const hue = fixed((i * 137.508) % 360);
    const lightness = [42, 60, 30][i % 3];
    return `hsl(${hue} 70% ${lightness}%)`;
  }

  /** CSS that fades every other class while a legend entry is hovered: classes are named by index, never by label. */
  highlightRules(): string {
    return [...this.order.values()].map((i) => `[data-plot=scatter]:has(.k${i}:hover) .series:not(.s${i}){opacity:.06}`).join('\n');
  }
}

interface Scale {
  at(value: number): number;
  readonly ticks: readonly number[];
}

/** A linear scale from the values' range, padded by 4 %, onto [from, to] (pixels; `to` < `from` for y), with round ticks. */
function scale(values: readonly number[], from: number, to: number): Scale {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.04;
  lo -= pad;
  hi += pad;
  // Steps of 1, 2 or 5 times a power of ten, about five to an axis, as plotting libraries choose them.
  const rough = (hi - lo) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((f) => f * power).find((candidate) => candidate >= rough)!;
  const ticks: number[] = [];
  for (let i = Math.ceil(lo / step); i * step <= hi; i += 1) ticks.push(i * step);
  return { at: (value) => from + ((value - lo) / (hi - lo)) * (to - from), ticks };
}

function plot(name: 'quality' | 'variance' | 'scatter' | 'classes' | 'lineage' | 'failures', heading: string, body: string): string {
  return `<section class="plot" data-plot="${name}">\n${heading}\n${body}\n</section>`;
}

function svg(width: number, height: number, label: string, parts: readonly string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(label)}">${parts.join('')}</svg>`;
}

function empty(message: string): string {
  return `<p class="empty">${esc(message)}</p>`;
}

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** The job's label is the image's folder name, empty when the path had none. */
function display(label: string): string {
  return label === '' ? '(no label)' : label;
}

/** Code-unit order: localeCompare depends on the ICU data of the machine, and the output must not. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function fixed(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function int(value: number): string {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function short(value: number): string {
  // Multiples of a step like 0.2 carry binary noise (0.6000000000000001).
  return String(Number(value.toPrecision(6)));
}

function percent(fraction: number): string {
  return `${(100 * fraction).toFixed(1)} %`;
}

function rate(value: number | null): string {
  return value === null ? 'n/a' : `${value.toFixed(1)} images/s`;
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

function size(bytes: number): string {
  return formatBytes(bytes, 1);
}

const STYLE = `
:root{color-scheme:light;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1180px;padding:24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
h1{font-size:22px;margin:0}h2{font-size:17px;margin:0 0 8px}
.sub,.caption,.empty{color:var(--muted)}.sub{margin:4px 0 16px;word-break:break-all}
section{border-top:1px solid var(--line);padding:16px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dt{color:var(--muted)}dd{margin:0;word-break:break-all}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px}
.ok{color:#1a7f37}.bad{color:#cf222e}
.timings{display:flex;flex-wrap:wrap;gap:24px;margin-top:12px}
table{border-collapse:collapse}caption{text-align:left;font-weight:600;padding-bottom:4px}
td,th{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
.num{text-align:right;font-variant-numeric:tabular-nums}
.share{width:160px}.share span{display:block;height:10px;background:var(--accent);border-radius:2px;min-width:1px}
.failures{width:100%}.failures .path{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
svg{display:block;max-width:100%;height:auto;font-size:11px}
.tick{fill:var(--muted)}.axis{fill:var(--ink);font-size:12px}
.grid{stroke:#eaeef2}.frame{fill:none;stroke:var(--line)}
[data-plot=variance] .bar{fill:var(--accent)}
.cumulative{fill:none;stroke:#cf222e;stroke-width:2}
.cum{fill:#cf222e}
.scatter{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.legend{list-style:none;margin:0;padding:0 8px 0 0;max-height:520px;overflow:auto;display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));align-content:start;gap:2px 12px;font-size:12px;flex:1 1 300px}
.legend li{cursor:default;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px}
.legend .n{color:var(--muted)}
`;
