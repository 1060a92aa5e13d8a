import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { PodMonitor } from '../imports/monitoring.coreos.com.ts';
import { GROUP, PLURAL } from '../../src/api/parquet-output.ts';
import { irsaAnnotations, platformLabels } from './labels.ts';

/** The controller serves /metrics, /healthz and /readyz on one port, as controller-runtime does. */
export const CONTROLLER_METRICS_PORT = 8080;

export interface ControllerProps {
  readonly namespace: string;
  readonly image: string;
  /** IRSA role for reading outputs' `_SUCCESS` and Parquet footers from S3. */
  readonly roleArn?: string;
  readonly region: string;
  /** A non-AWS S3 endpoint (path-style addressing), passed as ORCHARD_S3_ENDPOINT. */
  readonly s3Endpoint?: string;
  /** Two replicas with a Lease: one reconciles, the other takes over within the lease duration. @default 2 */
  readonly replicas?: number;
}

/**
 * The orchard controller: its service account, the namespaced RBAC it needs and no more, its
 * Deployment and the PodMonitor that scrapes it.
 */
export class Controller extends Construct {
  readonly deployment: kplus.Deployment;

  constructor(scope: Construct, id: string, props: ControllerProps) {
    super(scope, id);
    const name = 'orchard-controller';
    const labels = platformLabels('controller');
    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, namespace: props.namespace, labels, annotations: irsaAnnotations(props.roleArn) },
      automountToken: true,
    });

    // Exactly the calls the controller makes (src/controller/): it watches jobs, creates and
    // replaces records and their status, writes Events and holds the leader Lease.
    const role = new kplus.Role(this, 'role', { metadata: { name, namespace: props.namespace, labels } });
    role.allow(['get', 'list', 'watch'], kplus.ApiResource.custom({ apiGroup: 'sparkoperator.k8s.io', resourceType: 'sparkapplications' }));
    role.allow(['get', 'create', 'update'], kplus.ApiResource.custom({ apiGroup: GROUP, resourceType: PLURAL }));
    role.allow(['update'], kplus.ApiResource.custom({ apiGroup: GROUP, resourceType: `${PLURAL}/status` }));
    role.allow(['create'], kplus.ApiResource.EVENTS);
    role.allow(['get', 'create', 'update'], kplus.ApiResource.LEASES);
    new kplus.RoleBinding(this, 'binding', { metadata: { name, namespace: props.namespace, labels }, role }).addSubjects(serviceAccount);

    const probe = (path: string) => kplus.Probe.fromHttpGet(path, { port: CONTROLLER_METRICS_PORT, periodSeconds: Duration.seconds(10), failureThreshold: 3 });
    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name, namespace: props.namespace, labels },
      podMetadata: { labels },
      replicas: props.replicas ?? 2,
      serviceAccount,
      automountServiceAccountToken: true,
      securityContext: { ensureNonRoot: true, user: 65532, group: 65532 },
      containers: [
        {
          name: 'controller',
          image: props.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          // The `orchard` CLI is the image's entrypoint.
          args: ['controller'],
          ports: [{ number: CONTROLLER_METRICS_PORT, name: 'metrics' }],
          envVariables: {
            // The Role grants access in this namespace only: watch it, and keep the Lease here.
            POD_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
            ORCHARD_WATCH_NAMESPACE: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.POD_NAMESPACE),
            AWS_REGION: kplus.EnvValue.fromValue(props.region),
            ...(props.s3Endpoint ? { ORCHARD_S3_ENDPOINT: kplus.EnvValue.fromValue(props.s3Endpoint) } : {}),
          },
          liveness: probe('/healthz'),
          readiness: probe('/readyz'),
          // Footer reads are small ranged GETs; the informer cache of SparkApplications is the
          // memory that grows, with the number of runs kept.
          resources: {
            cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
            memory: { request: Size.mebibytes(128), limit: Size.mebibytes(512) },
          },
          securityContext: { ensureNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false },
        },
      ],
    });
    // The restricted Pod Security profile requires seccomp RuntimeDefault and dropping ALL
    // capabilities; cdk8s-plus-27 has no seccompProfile prop and its Capability enum has no ALL,
    // so both are patched into the rendered object.
    ApiObject.of(this.deployment).addJsonPatch(
      JsonPatch.add('/spec/template/spec/securityContext/seccompProfile', { type: 'RuntimeDefault' }),
      JsonPatch.add('/spec/template/spec/containers/0/securityContext/capabilities', { drop: ['ALL'] }),
    );

    new PodMonitor(this, 'pod-monitor', {
      metadata: { name, namespace: props.namespace, labels },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': labels['app.kubernetes.io/name']! } },
        podMetricsEndpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
      },
    });
  }
}
