import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { irsaAnnotations, platformLabels } from './labels.ts';

/** The Spark driver's service account, unless the identity is given another name. */
export const SPARK_SERVICE_ACCOUNT = 'orchard-spark';

export interface SparkJobIdentityProps {
  readonly namespace: string;
  /** @default orchard-spark */
  readonly name?: string;
  /** IRSA role for S3 access; unset on a local stack. */
  readonly roleArn?: string;
}

/**
 * The service account the Spark driver and executors run as, and the least privilege the driver
 * needs in its namespace: Spark on Kubernetes creates, watches and deletes its executor pods, a
 * headless service for them, and a config map carrying its conf; nothing else.
 */
export class SparkJobIdentity extends Construct {
  readonly serviceAccount: kplus.ServiceAccount;

  constructor(scope: Construct, id: string, props: SparkJobIdentityProps) {
    super(scope, id);
    const name = props.name ?? SPARK_SERVICE_ACCOUNT;
    const labels = platformLabels('spark');
    this.serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, namespace: props.namespace, labels, annotations: irsaAnnotations(props.roleArn) },
      // The driver talks to the API server with this token.
      automountToken: true,
    });
    const role = new kplus.Role(this, 'driver-role', { metadata: { name: `${name}-driver`, namespace: props.namespace, labels } });
    role.allow(['create', 'get', 'list', 'watch', 'patch', 'delete', 'deletecollection'], kplus.ApiResource.PODS);
    role.allow(['create', 'get', 'delete', 'deletecollection'], kplus.ApiResource.SERVICES);
    role.allow(['create', 'get', 'list', 'delete', 'deletecollection'], kplus.ApiResource.CONFIG_MAPS);
    new kplus.RoleBinding(this, 'driver-binding', { metadata: { name: `${name}-driver`, namespace: props.namespace, labels }, role }).addSubjects(this.serviceAccount);
  }
}
