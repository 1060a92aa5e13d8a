import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { StageConfig } from '../stages.ts';
import { Controller } from '../constructs/controller.ts';
import { S3Credentials } from '../constructs/s3-credentials.ts';
import { Monitoring } from '../constructs/monitoring.ts';
import { NetworkPolicies } from '../constructs/network-policies.ts';
import { RestrictedNamespace } from '../constructs/restricted-namespace.ts';
import { SparkJobIdentity } from '../constructs/spark-job-identity.ts';

/** Everything the jobs and the controller need in the stage's namespace. */
export class PlatformChart extends Chart {
  readonly jobServiceAccount: string;

  constructor(scope: Construct, id: string, stage: StageConfig) {
    super(scope, id);
    const namespace = new RestrictedNamespace(this, 'namespace', { name: stage.namespace });
    const identity = new SparkJobIdentity(this, 'spark', { namespace: stage.namespace, roleArn: stage.roles?.job });
    const controller = new Controller(this, 'controller', {
      namespace: stage.namespace,
      image: `${stage.registry}/${stage.images.controller}`,
      roleArn: stage.roles?.controller,
      region: stage.region,
      s3Endpoint: stage.s3?.endpoint,
      ...(stage.s3 ? { s3CredentialsSecret: new S3Credentials(this, 's3-credentials', { namespace: stage.namespace, ...stage.s3 }).name } : {}),
    });
    const policies = new NetworkPolicies(this, 'network', { namespace: stage.namespace, prometheusNamespace: stage.prometheusNamespace, s3Endpoint: stage.s3?.endpoint });
    const monitoring = new Monitoring(this, 'monitoring', { namespace: stage.namespace });
    for (const dependent of [identity, controller, policies, monitoring]) dependent.node.addDependency(namespace);
    this.jobServiceAccount = identity.serviceAccount.name;
  }
}
