import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ServiceMonitor } from '../imports/monitoring.coreos.com.ts';
import { GROUP, PLURAL } from '../../src/api/parquet-output.ts';
import { irsaAnnotations, platformLabels } from './labels.ts';

/** The controller serves /metrics, /healthz and /readyz on one port, as controller-runtime does. */
export const CONTROLLER_METRICS_PORT = 8080;

/** The one controller per namespace: the Lease (src/controller/controller.ts LEASE_NAME) has this name too. */
export const CONTROLLER_NAME = 'orchard-controller';

/** Requests and limits in the Kubernetes shape, so Helm values and construct props read the same. */
export interface ControllerResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/**
 * Footer reads are small ranged GETs; the informer cache of SparkApplications is the memory that
 * grows, with the number of runs kept.
 */
export const DEFAULT_CONTROLLER_RESOURCES: ControllerResources = {
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { cpu: '500m', memory: '512Mi' },
};

/** Scrape interval of the ServiceMonitor: the alert rules' `for:` windows assume samples at least this often. */
export const DEFAULT_SCRAPE_INTERVAL = '30s';

export interface ControllerProps {
  readonly namespace: string;
  readonly image: string;
  /** @default IfNotPresent, right for the immutable version tags and digests the stages pin */
  readonly imagePullPolicy?: kplus.ImagePullPolicy;
  /** IRSA role for reading outputs' `_SUCCESS` and Parquet footers from S3. @default none: credentials from the node or the environment */
  readonly roleArn?: string;
  readonly region: string;
  /** A non-AWS S3 endpoint (path-style addressing), passed as ORCHARD_S3_ENDPOINT. @default none: AWS S3 */
  readonly s3Endpoint?: string;
  /**
   * A Secret in the namespace holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, for a non-AWS S3
   * server (the local stack's): the controller gets its keys as environment variables, which the AWS
   * SDK reads. @default none: IRSA or the default credential chain
   */
  readonly s3CredentialsSecret?: string;
  /** Two replicas with a Lease: one reconciles, the other takes over within the lease duration. @default 2 */
  readonly replicas?: number;
  /** @default DEFAULT_CONTROLLER_RESOURCES */
  readonly resources?: ControllerResources;
  /** A ServiceMonitor for the Prometheus operator; off where the cluster has no monitoring.coreos.com CRDs. @default true */
  readonly serviceMonitor?: boolean;
  /** @default DEFAULT_SCRAPE_INTERVAL */
  readonly scrapeInterval?: string;
}

/**
 * The orchard controller: its service account, the namespaced RBAC it needs and no more, its
 * Deployment with a PodDisruptionBudget, the metrics Service and the ServiceMonitor that scrapes it.
 */
export class Controller extends Construct {
  readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: ControllerProps) {
    super(scope, id);
    const name = CONTROLLER_NAME;
    const labels = platformLabels('controller');
    // Pods are selected by name alone, the same in every chart that renders this construct,
    // rather than by cdk8s-plus's construct-path label, which would differ between the two.
    const selector = { 'app.kubernetes.io/name': labels['app.kubernetes.io/name']! };
    const resources = props.resources ?? DEFAULT_CONTROLLER_RESOURCES;

    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, namespace: props.namespace, labels, annotations: irsaAnnotations(props.roleArn) },
      automountToken: true,
    });

    // Exactly the calls the controller makes (src/controller/): it watches jobs, reads the schedule
    // that owns a scheduled run (which declares the run's outputs), creates and replaces records
    // and their status, lists a job's records to compare a new dataset with the previous one,
    // writes Events and holds the leader Lease; it watches driver pods for a failed attempt's own
    // error, which the operator does not keep and a retry deletes with the pod.
    const role = new kplus.Role(this, 'role', { metadata: { name, namespace: props.namespace, labels } });
    role.allow(['get', 'list', 'watch'], kplus.ApiResource.custom({ apiGroup: 'sparkoperator.k8s.io', resourceType: 'sparkapplications' }));
    role.allow(['get'], kplus.ApiResource.custom({ apiGroup: 'sparkoperator.k8s.io', resourceType: 'scheduledsparkapplications' }));
    role.allow(['get', 'list', 'create', 'update'], kplus.ApiResource.custom({ apiGroup: GROUP, resourceType: PLURAL }));
    role.allow(['update'], kplus.ApiResource.custom({ apiGroup: GROUP, resourceType: `${PLURAL}/status` }));
    role.allow(['list', 'watch'], kplus.ApiResource.PODS);
    role.allow(['create'], kplus.ApiResource.EVENTS);
    role.allow(['get', 'create', 'update'], kplus.ApiResource.LEASES);
    new kplus.RoleBinding(this, 'binding', { metadata: { name, namespace: props.namespace, labels }, role }).addSubjects(serviceAccount);

    const probe = (path: string) => kplus.Probe.fromHttpGet(path, { port: CONTROLLER_METRICS_PORT, periodSeconds: Duration.seconds(10), failureThreshold: 3 });
    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, namespace: props.namespace, labels },
      podMetadata: { labels },
      select: false,
      replicas: props.replicas ?? 2,
      serviceAccount,
      automountServiceAccountToken: true,
      securityContext: { ensureNonRoot: true, user: 65532, group: 65532 },
      containers: [
        {
          name: 'controller',
          image: props.image,
          imagePullPolicy: props.imagePullPolicy ?? kplus.ImagePullPolicy.IF_NOT_PRESENT,
          // No command or args: the image's entrypoint is the controller bundle with its node flags
          // (images/controller/Dockerfile).
          ports: [{ number: CONTROLLER_METRICS_PORT, name: 'metrics' }],
          envVariables: {
            // The Role grants access in this namespace only: watch it, and keep the Lease here.
            POD_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
            ORCHARD_WATCH_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
            AWS_REGION: kplus.EnvValue.fromValue(props.region),
            ...(props.s3Endpoint ? { ORCHARD_S3_ENDPOINT: kplus.EnvValue.fromValue(props.s3Endpoint) } : {}),
          },
          ...(props.s3CredentialsSecret ? { envFrom: [kplus.Env.fromSecret(kplus.Secret.fromSecretName(this, 's3-credentials', props.s3CredentialsSecret))] } : {}),
          liveness: probe('/healthz'),
          readiness: probe('/readyz'),
          securityContext: { ensureNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false },
        },
      ],
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: selector }));
    ApiObject.of(this.deployment).addJsonPatch(
      // The restricted Pod Security profile requires seccomp RuntimeDefault and dropping ALL
      // capabilities; cdk8s-plus-27 has no seccompProfile prop and its Capability enum has no ALL.
      JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }),
      JsonPatch.add('/spec/template/spec/containers/0/securityContext/capabilities', { drop: ['ALL'] }),
      // Quantities as written ("1Gi" stays "1Gi"; cdk8s-plus's Size would print "1024Mi"). They go in
      // as k8s.Quantity because KubeDeployment's serializer, run after the patches, keeps only `.value`.
      JsonPatch.replace('/spec/template/spec/containers/0/resources', { requests: quantities(resources.requests), limits: quantities(resources.limits) }),
      // cdk8s-plus labels pods with their construct path even with `select: false`; that label would
      // differ between the charts that render this construct and selects nothing.
      JsonPatch.remove(`/spec/template/metadata/labels/${kplus.Pod.ADDRESS_LABEL.replace('/', '~1')}`),
      // Only the leader works, so the replicas must not share a node (a node loss would take both);
      // zones are preferred, not required, because small clusters often sit in one zone.
      // pod-template-hash: during a rollout, count only the pods of the same ReplicaSet.
      JsonPatch.add('/spec/template/spec/topologySpreadConstraints', [
        { topologyKey: 'kubernetes.io/hostname', maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: selector }, matchLabelKeys: ['pod-template-hash'] },
        { topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector }, matchLabelKeys: ['pod-template-hash'] },
      ]),
    );

    // maxUnavailable rather than minAvailable: with the default 2 replicas both keep one pod up
    // through a drain, but minAvailable 1 on a 1-replica install would block every drain forever.
    // AlwaysAllow lets a drain evict a pod that is not ready anyway (a crash loop, a bad image).
    new kplus.k8s.KubePodDisruptionBudget(this, 'disruption-budget', {
      metadata: { name, namespace: props.namespace, labels },
      spec: { maxUnavailable: kplus.k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });

    const service = new kplus.Service(this, 'metrics-service', {
      metadata: { name, namespace: props.namespace, labels },
      type: kplus.ServiceType.CLUSTER_IP,
      selector: kplus.Pods.select(this, 'pods', { labels: selector }),
      ports: [{ name: 'metrics', port: CONTROLLER_METRICS_PORT, targetPort: CONTROLLER_METRICS_PORT, protocol: kplus.Protocol.TCP }],
    });

    if (props.serviceMonitor ?? true) {
      new ServiceMonitor(this, 'service-monitor', {
        metadata: { name, namespace: props.namespace, labels },
        spec: {
          selector: { matchLabels: selector },
          endpoints: [{ port: service.ports[0]!.name!, path: '/metrics', interval: props.scrapeInterval ?? DEFAULT_SCRAPE_INTERVAL }],
        },
      });
    }
  }
}

function quantities(bound: { readonly cpu: string; readonly memory: string }): Record<string, kplus.k8s.Quantity> {
  return { cpu: kplus.k8s.Quantity.fromString(bound.cpu), memory: kplus.k8s.Quantity.fromString(bound.memory) };
}
