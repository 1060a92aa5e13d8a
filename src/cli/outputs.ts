import type { Command } from 'commander';
import { stringify } from 'yaml';
import { API_VERSION, PLURAL, type FeatureQuality, type Leftovers, type Lineage, type ParquetOutput } from '../api/parquet-output.ts';
import { OrchardError } from '../errors.ts';
import { humanBytes } from '../format.ts';
import { kubeRequest, statusMessage } from '../kube/raw.ts';
import { clusterOptions, connect, type ClusterOptions } from './cluster.ts';
import { EXIT, runCommand, UsageError } from './exit.ts';

interface OutputsFlags extends ClusterOptions {
  readonly namespace?: string;
  readonly allNamespaces?: boolean;
  readonly output: string;
  readonly selector?: string;
}

const FORMATS = ['table', 'wide', 'json', 'yaml'] as const;

/** kubectl's age format: the two largest units, e.g. 3m12s, 5h4m, 12d. */
export function age(from: string | undefined, now = Date.now()): string {
  if (!from) return '';
  const s = Math.max(0, Math.floor((now - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 3 * 3600) return `${Math.floor(s / 60)}m`;
  if (s < 8 * 3600) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** The probe's top-1 accuracy as the wide table shows it: `96.3%`, `84.0% < 90%` below its gate, or `skipped`. */
export function top1Cell(q: FeatureQuality | undefined): string {
  if (!q) return '';
  if (q.top1 === undefined) return q.skipped ? 'skipped' : '';
  const shown = `${(q.top1 * 100).toFixed(1)}%`;
  return q.minTop1 !== undefined && q.top1 < q.minTop1 ? `${shown} < ${+(q.minTop1 * 100).toFixed(1)}%` : shown;
}

/** The lineage cells of the wide table: the mode, the parent, and images reused/featurized/removed. */
export function lineageCells(lineage: Lineage | undefined): [string, string, string] {
  if (!lineage) return ['', '', ''];
  const { reused, featurized, removed } = lineage.images;
  return [lineage.mode, lineage.parent ?? '', `${reused}/${featurized}/${removed}`];
}

/** What `orchard gc` would remove under the output: `2 uploads, 5 partial`, or nothing. */
export function leftoversCell(leftovers: Leftovers | undefined): string {
  if (!leftovers) return '';
  const parts = [...(leftovers.pendingUploads ? [`${leftovers.pendingUploads} uploads`] : []), ...(leftovers.partialObjects ? [`${leftovers.partialObjects} partial`] : [])];
  return parts.join(', ');
}

export function outputsTable(items: readonly ParquetOutput[], options: { namespaces: boolean; wide: boolean }): string {
  const header = [...(options.namespaces ? ['NAMESPACE'] : []), 'NAME', 'JOB', 'URI', 'ROWS', 'FILES', 'SIZE', 'PHASE', ...(options.wide ? ['COMMITTER', 'IMAGES/S', 'TOP-1', 'MODE', 'PARENT', 'REUSED/NEW/REMOVED', 'LEFTOVERS', 'MESSAGE'] : []), 'AGE'];
  const rows = items.map((o) => {
    const complete = o.status?.conditions?.find((c) => c.type === 'Complete');
    const problem = complete && complete.status !== 'True' ? complete.message.split('\n')[0]! : '';
    return [
      ...(options.namespaces ? [o.metadata.namespace ?? ''] : []),
      o.metadata.name,
      o.spec.source.name,
      o.spec.uri,
      o.status?.rows?.toString() ?? '',
      o.status?.files?.toString() ?? '',
      humanBytes(o.status?.bytes),
      o.status?.phase ?? 'Pending',
      ...(options.wide ? [o.status?.committer ?? '', o.status?.jobMetrics?.imagesPerSecond?.toString() ?? '', top1Cell(o.status?.featureQuality), ...lineageCells(o.status?.lineage), leftoversCell(o.status?.leftovers), problem] : []),
      age((o.metadata as { creationTimestamp?: string }).creationTimestamp),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ')).join('\n') + '\n';
}

export function registerOutputs(program: Command): void {
  clusterOptions(
    program
      .command('outputs')
      .description('list the recorded Parquet outputs (ParquetOutputs), like `kubectl get parquetoutputs`')
      .option('-n, --namespace <ns>', 'namespace to list (default: the context\'s)')
      .option('-A, --all-namespaces', 'list every namespace')
      .option('-l, --selector <selector>', 'label selector, e.g. orchard.fruits.dev/spark-application=featurize')
      .option('-o, --output <format>', `${FORMATS.join(', ')}`, 'table'),
  ).action((flags: OutputsFlags) =>
    runCommand(async () => {
      if (!(FORMATS as readonly string[]).includes(flags.output)) {
        throw new UsageError(`unknown output format ${JSON.stringify(flags.output)}`, `use -o ${FORMATS.join(', -o ')}`);
      }
      const cluster = await connect(flags);
      const namespace = flags.namespace ?? cluster.namespace;
      const path = flags.allNamespaces ? `/apis/${API_VERSION}/${PLURAL}` : `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}`;
      const query = flags.selector ? `?${new URLSearchParams({ labelSelector: flags.selector })}` : '';
      const response = await kubeRequest(cluster.kc, 'GET', `${path}${query}`);
      if (response.status === 404) throw new OrchardError('the API server does not serve ParquetOutputs', 'install the CRD: `kubectl apply -f dist/<stage>/00-crds.yaml` or the Helm chart');
      if (response.status !== 200) throw new OrchardError(`listing ParquetOutputs answered ${response.status}: ${statusMessage(response)}`, 'check your access with `kubectl auth can-i list parquetoutputs`');
      const list = JSON.parse(response.body) as { items: ParquetOutput[] };
      const items = list.items.map((item) => ({ ...item, apiVersion: API_VERSION, kind: 'ParquetOutput' }) as ParquetOutput);
      if (flags.output === 'json' || flags.output === 'yaml') {
        const document = { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items };
        process.stdout.write(flags.output === 'json' ? `${JSON.stringify(document, null, 4)}\n` : stringify(document));
        return EXIT.ok;
      }
      if (items.length === 0) {
        process.stderr.write(flags.allNamespaces ? 'No resources found\n' : `No resources found in ${namespace} namespace.\n`);
        return EXIT.ok;
      }
      process.stdout.write(outputsTable(items, { namespaces: Boolean(flags.allNamespaces), wide: flags.output === 'wide' }));
      return EXIT.ok;
    }),
  );
}
