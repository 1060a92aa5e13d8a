/**
 * The values of charts/orchard, defined once: values.yaml (defaults and their comments),
 * values.schema.json and the TypeScript type all come from VALUES_SCHEMA, and controllerProps maps
 * a set of values to the constructs' props, for the chart generator and for the tests.
 */
import * as kplus from 'cdk8s-plus-27';
import { DEFAULT_CONTROLLER_RESOURCES, DEFAULT_SCRAPE_INTERVAL, type ControllerProps } from '../constructs/controller.ts';
import type { MonitoringProps } from '../constructs/monitoring.ts';

/** The chart and the controller image are versioned together. */
export const CHART_VERSION = '0.1.0';
export const APP_VERSION = '0.1.0';

/** Kubernetes quantities as the API server accepts them: cores or millicores; bytes with an SI or binary suffix. */
const CPU_QUANTITY = '^([0-9]+m|[0-9]+(\\.[0-9]{1,3})?)$';
const MEMORY_QUANTITY = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$';

interface Leaf {
  readonly type: 'string' | 'integer' | 'boolean';
  readonly description: string;
  readonly default: string | number | boolean;
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
}

interface Group {
  readonly type: 'object';
  readonly description: string;
  readonly properties: Readonly<Record<string, Node>>;
}

type Node = Leaf | Group;

function group<P extends Record<string, Node>>(description: string, properties: P): { readonly type: 'object'; readonly description: string; readonly properties: P } {
  return { type: 'object', description, properties };
}

function quantities(bound: keyof typeof DEFAULT_CONTROLLER_RESOURCES, description: string) {
  return group(description, {
    cpu: { type: 'string', description: 'Cores ("0.5") or millicores ("500m").', default: DEFAULT_CONTROLLER_RESOURCES[bound].cpu, pattern: CPU_QUANTITY },
    memory: { type: 'string', description: 'Bytes with a suffix, for example "512Mi" or "1Gi".', default: DEFAULT_CONTROLLER_RESOURCES[bound].memory, pattern: MEMORY_QUANTITY },
  } as const);
}

export const VALUES = group('Values of the orchard controller chart.', {
  image: group('The controller image. No public image is published: push it to your registry and set repository.', {
    repository: { type: 'string', description: 'Registry and repository, without tag.', default: 'orchard/controller', pattern: '^[a-z0-9]+([._/:-][a-z0-9]+)*$' },
    tag: { type: 'string', description: 'An immutable version tag; the chart\'s appVersion by default.', default: APP_VERSION, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' },
    pullPolicy: { type: 'string', description: 'Kubernetes imagePullPolicy.', default: kplus.ImagePullPolicy.IF_NOT_PRESENT, enum: Object.values(kplus.ImagePullPolicy) },
  } as const),
  replicas: { type: 'integer', description: 'Controller pods. One holds the leader Lease and reconciles; the others take over within the lease duration.', default: 2, minimum: 1, maximum: 10 },
  resources: group('Requests and limits of the controller container.', {
    requests: quantities('requests', 'What the scheduler reserves.'),
    limits: quantities('limits', 'What the container may use at most.'),
  } as const),
  aws: group('Where the controller reads the Spark jobs\' outputs from S3.', {
    region: { type: 'string', description: 'AWS region of the bucket.', default: 'us-east-1', pattern: '^[a-z]{2}(-gov)?-[a-z]+-[0-9]$' },
    roleArn: { type: 'string', description: 'IRSA: IAM role annotated on the service account; empty for node or environment credentials.', default: '', pattern: '^(arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@/_-]{1,128})?$' },
  } as const),
  s3: group('A non-AWS S3 server (MinIO, versitygw).', {
    endpoint: { type: 'string', description: 'http(s)://host:port of the S3 server, path-style; empty for AWS S3.', default: '', pattern: '^(https?://[^/\\s]+)?$' },
    credentialsSecret: {
      type: 'string',
      description: 'A Secret in the release namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for that server, given to the controller as environment; empty on AWS (IRSA).',
      default: '',
      pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$',
    },
  } as const),
  serviceMonitor: group('Prometheus operator scraping of the metrics Service.', {
    enabled: { type: 'boolean', description: 'Render a ServiceMonitor; needs the monitoring.coreos.com CRDs in the cluster.', default: false },
    interval: { type: 'string', description: 'Scrape interval.', default: DEFAULT_SCRAPE_INTERVAL, pattern: '^[0-9]+(ms|s|m|h)$' },
  } as const),
  prometheusRule: group('orchard\'s alerts (cdk8s/monitoring/alerts.ts) for the Prometheus operator.', {
    enabled: { type: 'boolean', description: 'Render the PrometheusRule; needs the monitoring.coreos.com CRDs in the cluster.', default: false },
    release: { type: 'string', description: 'A `release` label for a Prometheus whose ruleSelector wants one (kube-prometheus-stack: its release name); empty for none.', default: '', pattern: '^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$' },
  } as const),
  grafanaDashboard: group('orchard\'s Grafana dashboard (cdk8s/monitoring/dashboard.ts).', {
    enabled: { type: 'boolean', description: 'Render the dashboard ConfigMap, labelled for the Grafana sidecar.', default: false },
  } as const),
} as const);

/** The type of a complete set of values: every key is required, as values.yaml sets every key. */
export type ValuesOf<N> = N extends { readonly properties: infer P }
  ? { -readonly [K in keyof P]: ValuesOf<P[K]> }
  : N extends { readonly enum: readonly (infer E)[] }
    ? E
    : N extends { readonly type: 'integer' }
      ? number
      : N extends { readonly type: 'boolean' }
        ? boolean
        : string;

export type ChartValues = ValuesOf<typeof VALUES>;

/** Every leaf of the values with its dotted path, in declaration order. */
export function leaves(node: Node = VALUES, path: readonly string[] = []): { readonly path: readonly string[]; readonly leaf: Leaf }[] {
  if (node.type !== 'object') return [{ path, leaf: node }];
  return Object.entries(node.properties).flatMap(([key, child]) => leaves(child, [...path, key]));
}

/** The defaults, as values.yaml holds them. */
export function defaultValues(): ChartValues {
  return fromLeaves((leaf) => leaf.default);
}

/** A set of values built leaf by leaf, in the shape of VALUES. */
export function fromLeaves(value: (leaf: Leaf, path: readonly string[]) => unknown): ChartValues {
  const build = (node: Node, path: readonly string[]): unknown =>
    node.type === 'object' ? Object.fromEntries(Object.entries(node.properties).map(([key, child]) => [key, build(child, [...path, key])])) : value(node, path);
  return build(VALUES, []) as ChartValues;
}

/** values.schema.json: every group closed, so that a misspelt key is an error rather than ignored. */
export function valuesSchema(): object {
  const schema = (node: Node): object => {
    if (node.type !== 'object') {
      const { default: _default, ...rest } = node;
      return rest;
    }
    return {
      type: 'object',
      description: node.description,
      additionalProperties: false,
      required: Object.keys(node.properties),
      properties: Object.fromEntries(Object.entries(node.properties).map(([key, child]) => [key, schema(child)])),
    };
  };
  return { $schema: 'http://json-schema.org/draft-07/schema#', title: 'orchard', ...schema(VALUES) };
}

/** values.yaml: every key with its default, under its description as a comment. */
export function valuesYaml(): string {
  const lines: string[] = [];
  const write = (node: Node, indent: string) => {
    if (node.type !== 'object') return;
    for (const [key, child] of Object.entries(node.properties)) {
      lines.push(`${indent}# ${child.description}`);
      if (child.type === 'object') {
        lines.push(`${indent}${key}:`);
        write(child, `${indent}  `);
      } else {
        lines.push(`${indent}${key}: ${JSON.stringify(child.default)}`);
      }
    }
  };
  write(VALUES, '');
  return `${lines.join('\n')}\n`;
}

/** The Controller construct's props for a set of values: the one mapping, used by the chart generator and the tests. */
export function controllerProps(values: ChartValues, namespace: string): ControllerProps {
  return {
    namespace,
    image: `${values.image.repository}:${values.image.tag}`,
    imagePullPolicy: values.image.pullPolicy,
    roleArn: values.aws.roleArn || undefined,
    region: values.aws.region,
    s3Endpoint: values.s3.endpoint || undefined,
    s3CredentialsSecret: values.s3.credentialsSecret || undefined,
    replicas: values.replicas,
    resources: values.resources,
    serviceMonitor: values.serviceMonitor.enabled,
    scrapeInterval: values.serviceMonitor.interval,
  };
}

/** The Monitoring construct's props for a set of values; which of its objects are kept is the chart's choice. */
export function monitoringProps(values: ChartValues, namespace: string): MonitoringProps {
  return { namespace, ruleLabels: values.prometheusRule.release ? { release: values.prometheusRule.release } : undefined };
}
