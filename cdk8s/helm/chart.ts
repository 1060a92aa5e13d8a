/**
 * Generates charts/orchard from the cdk8s constructs, so that the Helm chart and the platform chart
 * render the controller and its alerts from the same definitions. The Controller construct is synthesized with
 * placeholder values (`@@aws.region@@`), which become Helm expressions; every optional value is
 * synthesized a second time unset, and whatever disappears (an object, a key, a list item) is
 * wrapped in `{{- if }}` on that value.
 */
import { isDeepStrictEqual } from 'node:util';
import { App, Chart } from 'cdk8s';
import { stringify } from 'yaml';
import { CrdsChart } from '../charts/crds-chart.ts';
import { Controller, CONTROLLER_METRICS_PORT, CONTROLLER_NAME } from '../constructs/controller.ts';
import { Monitoring } from '../constructs/monitoring.ts';
import { annotateForArgoCd } from '../sync-waves.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { LEASE_NAME } from '../../src/api/controller.ts';
import { APP_VERSION, CHART_VERSION, controllerProps, monitoringProps, fromLeaves, leaves, valuesSchema, valuesYaml, type ChartValues } from './values.ts';

export const CHART_DIR = 'charts/orchard';
export const CHART_NAME = 'orchard';
/** The command that writes the chart, named in the drift test's failure. */
export const REGENERATE = 'npm run chart';

const NAMESPACE = '@@namespace@@';
const LABELS = '@@labels@@';
const PLACEHOLDER = /@@([A-Za-z0-9.]+)@@/g;

/** Labels the chart sets instead of, or on top of, the construct's: Helm's conventions for releases. */
export const HELM_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'] as const;
/** The construct says cdk8s manages its objects; the chart says Helm does. */
export const MANAGED_BY = 'app.kubernetes.io/managed-by';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };

/**
 * The objects the chart installs for a set of values: the controller's, and the alerts and the
 * dashboard of the Monitoring construct when they are enabled.
 */
export function chartManifests(values: ChartValues, namespace: string): Manifest[] {
  const chart = new Chart(new App(), CHART_NAME);
  new Controller(chart, 'controller', controllerProps(values, namespace));
  const monitoring = new Monitoring(chart, 'monitoring', monitoringProps(values, namespace));
  if (!values.prometheusRule.enabled) monitoring.node.tryRemoveChild(monitoring.rule.node.id);
  if (!values.grafanaDashboard.enabled) monitoring.node.tryRemoveChild(monitoring.dashboard.node.id);
  // The waves too, so that an Argo CD Application with this chart as its Helm source orders the
  // objects as it does the platform chart's.
  annotateForArgoCd(chart);
  return chart.toJson() as Manifest[];
}

/** The ParquetOutput CRD as the CrdsChart renders it from src/api/parquet-output.ts. */
export function crdManifest(): Manifest {
  const chart = new CrdsChart(new App(), 'crds');
  annotateForArgoCd(chart);
  const [crd] = chart.toJson() as Manifest[];
  return crd!;
}

const leafTypes = new Map(leaves().map(({ path, leaf }) => [path.join('.'), leaf.type]));

function placeholders(): ChartValues {
  return fromLeaves((_leaf, path) => `@@${path.join('.')}@@`);
}

/** Values that can be off: booleans, and strings whose default is empty. */
function optionalLeaves(): string[] {
  return leaves().filter(({ leaf }) => leaf.type === 'boolean' || leaf.default === '').map(({ path }) => path.join('.'));
}

function withLeaf(values: ChartValues, path: string, value: unknown): ChartValues {
  const copy = structuredClone(values) as unknown as JsonMap;
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as JsonMap;
  node[keys.at(-1)!] = value as Json;
  return copy as unknown as ChartValues;
}

/** Which keys of which maps, and which items of which lists, exist only when a value is set. */
class Conditions {
  readonly keys = new Map<object, Map<string, string[]>>();
  readonly items = new Map<object, Map<number, string[]>>();

  add<K>(store: Map<object, Map<K, string[]>>, node: object, at: K, condition: string): void {
    const conditions = store.get(node) ?? new Map<K, string[]>();
    conditions.set(at, [...(conditions.get(at) ?? []), condition]);
    store.set(node, conditions);
  }

  /** Records what `full` has and `without` lacks; anything else that differs cannot be templated. */
  diff(full: Json, without: Json, condition: string, where: string): void {
    if (Array.isArray(full) && Array.isArray(without) && full.length === without.length) {
      full.forEach((item, i) => this.diff(item, without[i]!, condition, `${where}[${i}]`));
    } else if (Array.isArray(full) && Array.isArray(without)) {
      let j = 0;
      full.forEach((item, i) => {
        if (j < without.length && isDeepStrictEqual(item, without[j])) j += 1;
        else this.add(this.items, full, i, condition);
      });
      if (j !== without.length) throw unsupported(where, condition, 'changes list items instead of only adding them');
    } else if (isMap(full) && isMap(without)) {
      for (const key of Object.keys(without)) if (!(key in full)) throw unsupported(`${where}.${key}`, condition, 'adds a key when unset');
      for (const [key, value] of Object.entries(full)) {
        if (key in without) this.diff(value, without[key]!, condition, `${where}.${key}`);
        else this.add(this.keys, full, key, condition);
      }
    } else if (!isDeepStrictEqual(full, without)) {
      throw unsupported(where, condition, `changes the value from ${JSON.stringify(full)} to ${JSON.stringify(without)}`);
    }
  }
}

function unsupported(where: string, condition: string, what: string): Error {
  return new Error(`${where}: unsetting ${condition} ${what}; the chart generator can only make objects, keys and list items conditional: render the difference as its own object or key in cdk8s/constructs/controller.ts`);
}

function isMap(value: Json): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectKey(object: Manifest): string {
  return `${object.kind}/${object.metadata.name}`;
}

/** A Helm expression for a placeholder. */
function expression(path: string): string {
  return path === 'namespace' ? '.Release.Namespace' : `.Values.${path}`;
}

function scalar(value: Json): string {
  if (typeof value !== 'string') return stringify(value, { lineWidth: 0 }).trimEnd();
  const whole = /^@@([A-Za-z0-9.]+)@@$/.exec(value);
  if (whole) {
    const path = whole[1]!;
    return leafTypes.get(path) === 'string' || path === 'namespace' ? `{{ ${expression(path)} | quote }}` : `{{ ${expression(path)} }}`;
  }
  // Text that Helm would read as a template (the alerts' own `{{ $labels.namespace }}`) or that
  // holds placeholders among literal text (the image reference, namespaced PromQL) goes through
  // print: literal parts as Go strings (a JSON string is one), placeholders as expressions.
  if (value.includes('@@') || value.includes('{{') || value.includes('}}')) {
    const parts = value.split(PLACEHOLDER).map((part, i) => (i % 2 === 1 ? expression(part) : JSON.stringify(part))).filter((part) => part !== '""');
    return `{{ print ${parts.join(' ')} | toJson }}`;
  }
  // One line whatever the text: a block scalar would need the indentation of its key.
  return value.includes('\n') ? JSON.stringify(value) : stringify(value, { lineWidth: 0 }).trimEnd();
}

function condition(conditions: readonly string[] | undefined): string | undefined {
  if (!conditions) return undefined;
  const expressions = conditions.map(expression);
  return expressions.length === 1 ? expressions[0] : `and ${expressions.join(' ')}`;
}

/** Block YAML with `{{- if }}` around conditional keys and items; keys sorted, as chartYaml sorts them. */
function emit(value: Json, indent: string, conditions: Conditions): string[] {
  const lines: string[] = [];
  const guarded = (guard: string | undefined, body: string[]) => (guard ? [`${indent}{{- if ${guard} }}`, ...body, `${indent}{{- end }}`] : body);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const guard = condition(conditions.items.get(value)?.get(i));
      if (!isMap(item) && !Array.isArray(item)) return lines.push(...guarded(guard, [`${indent}- ${scalar(item)}`]));
      const body = emit(item, `${indent}  `, conditions);
      if (body[0]!.trimStart().startsWith('{{')) throw new Error(`a list item cannot start with a template line: ${body[0]}`);
      body[0] = `${indent}- ${body[0]!.slice(indent.length + 2)}`;
      lines.push(...guarded(guard, body));
    });
    return lines;
  }
  if (!isMap(value)) throw new Error(`emit needs a map or a list, got ${JSON.stringify(value)}`);
  for (const key of Object.keys(value).sort()) {
    const child = value[key]!;
    if (key === LABELS) {
      lines.push(`${indent}{{- include "orchard.labels" . | nindent ${indent.length} }}`);
      continue;
    }
    const guard = condition(conditions.keys.get(value)?.get(key));
    const name = stringify(key).trimEnd();
    const empty = (Array.isArray(child) && child.length === 0) || (isMap(child) && Object.keys(child).length === 0);
    if (empty || (!isMap(child) && !Array.isArray(child))) lines.push(...guarded(guard, [`${indent}${name}: ${empty ? JSON.stringify(child) : scalar(child)}`]));
    else lines.push(...guarded(guard, [`${indent}${name}:`, ...emit(child, Array.isArray(child) ? indent : `${indent}  `, conditions)]));
  }
  return lines;
}

/** The construct's labels, with Helm's managed-by and release labels in place of cdk8s's managed-by. */
function helmLabels(object: JsonMap): void {
  const maps = [object.metadata, isMap(object.spec!) && isMap(object.spec.template!) ? object.spec.template.metadata : undefined];
  for (const metadata of maps) {
    if (!isMap(metadata!) || !isMap(metadata.labels!)) continue;
    delete metadata.labels[MANAGED_BY];
    metadata.labels[LABELS] = '';
  }
}

const HEADER = '{{- /* Generated by `npm run chart` from the constructs in cdk8s/constructs/: edit them, not this file. */}}';

/** Every file of charts/orchard, by path relative to it. */
export function chartFiles(): Map<string, string> {
  const full = chartManifests(placeholders(), NAMESPACE) as unknown as JsonMap[];
  const byKey = new Map(full.map((object) => [objectKey(object as unknown as Manifest), object]));
  const conditions = new Conditions();
  const objectConditions = new Map<JsonMap, string[]>();
  for (const path of optionalLeaves()) {
    const off = leafTypes.get(path) === 'boolean' ? false : '';
    const without = new Map(chartManifests(withLeaf(placeholders(), path, off), NAMESPACE).map((object) => [objectKey(object), object as unknown as JsonMap]));
    for (const [key, object] of byKey) {
      const other = without.get(key);
      if (other) conditions.diff(object, other, path, key);
      else objectConditions.set(object, [...(objectConditions.get(object) ?? []), path]);
    }
    for (const key of without.keys()) if (!byKey.has(key)) throw unsupported(key, path, 'adds an object when unset');
  }

  const files = new Map<string, string>();
  files.set('Chart.yaml', stringify({
    apiVersion: 'v2',
    name: CHART_NAME,
    description: 'The orchard controller: records the Parquet datasets of Spark jobs as ParquetOutput resources',
    type: 'application',
    version: CHART_VERSION,
    appVersion: APP_VERSION,
    // The PodDisruptionBudget's unhealthyPodEvictionPolicy is GA from 1.31; EKS supports nothing older.
    kubeVersion: '>=1.31.0-0',
    keywords: ['spark', 'parquet', 'emr-on-eks'],
  }, { lineWidth: 0 }));
  files.set('values.yaml', `# Generated by \`npm run chart\` from cdk8s/helm/values.ts, like values.schema.json.\n${valuesYaml()}`);
  files.set('values.schema.json', `${JSON.stringify(valuesSchema(), null, 2)}\n`);
  files.set('crds/parquetoutputs.yaml', stringify(crdManifest(), { sortMapEntries: true, lineWidth: 0 }));
  files.set('templates/_helpers.tpl', HELPERS);
  files.set('templates/NOTES.txt', NOTES);
  for (const object of full) {
    helmLabels(object);
    const guard = condition(objectConditions.get(object));
    const body = emit(object, '', conditions);
    const text = guard ? [`{{- if ${guard} }}`, ...body, '{{- end }}'] : body;
    files.set(`templates/${String(object.kind).toLowerCase()}.yaml`, `${HEADER}\n${text.join('\n')}\n`);
  }
  return files;
}

const HELPERS = `{{- /*
Labels Helm charts carry by convention, on top of the construct's own (name, component, part-of).
Object names are fixed rather than derived from the release: the controller's leader Lease is
named ${LEASE_NAME}, so one release per namespace is all that can work.
*/}}
{{- define "orchard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
`;

const NOTES = `orchard {{ .Chart.AppVersion }} is installed in namespace {{ .Release.Namespace }} (release {{ .Release.Name }}):

- CustomResourceDefinition parquetoutputs.orchard.fruits.dev (short name pqo), from the chart's crds/;
  helm upgrade never changes it: after an upgrade, apply crds/ with kubectl.
- Deployment ${CONTROLLER_NAME}: {{ .Values.replicas }} replica(s); one holds the leader Lease and reconciles.
- ServiceAccount ${CONTROLLER_NAME}{{ with .Values.aws.roleArn }} with IRSA role {{ . }}{{ end }}, and a Role and RoleBinding for this namespace only.
- Service ${CONTROLLER_NAME}, port "metrics" (${CONTROLLER_METRICS_PORT}): /metrics, /healthz, /readyz.
- PodDisruptionBudget ${CONTROLLER_NAME}: at most one pod evicted at a time.
{{- if .Values.serviceMonitor.enabled }}
- ServiceMonitor ${CONTROLLER_NAME}: Prometheus scrapes /metrics every {{ .Values.serviceMonitor.interval }}.
{{- else }}
- No ServiceMonitor (serviceMonitor.enabled=false).
{{- end }}
{{- if .Values.prometheusRule.enabled }}
- PrometheusRule orchard: the alerts for failed and stuck jobs, incomplete outputs and the controller.
{{- end }}
{{- if .Values.grafanaDashboard.enabled }}
- ConfigMap orchard-dashboard: the Grafana dashboard, for Grafana's dashboard sidecar.
{{- end }}

The controller records the SparkApplications of this namespace that carry the label
orchard.fruits.dev/job. Check it:

  kubectl -n {{ .Release.Namespace }} rollout status deployment/${CONTROLLER_NAME}
  kubectl -n {{ .Release.Namespace }} get lease ${LEASE_NAME} -o jsonpath='{.spec.holderIdentity}{"\\n"}'
  kubectl -n {{ .Release.Namespace }} get pqo
  kubectl -n {{ .Release.Namespace }} port-forward service/${CONTROLLER_NAME} ${CONTROLLER_METRICS_PORT}:metrics
  curl -s localhost:${CONTROLLER_METRICS_PORT}/metrics | grep '^orchard_'
`;
