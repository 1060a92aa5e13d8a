import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { platformLabels } from './labels.ts';

/**
 * A namespace where Pod Security admission enforces the `restricted` profile, as EKS's built-in
 * PodSecurity plugin does when labelled: a pod that could run as root or escalate is refused.
 */
export class RestrictedNamespace extends Construct {
  readonly namespace: kplus.Namespace;

  constructor(scope: Construct, id: string, props: { readonly name: string }) {
    super(scope, id);
    this.namespace = new kplus.Namespace(this, 'namespace', {
      metadata: {
        name: props.name,
        labels: {
          ...platformLabels('namespace'),
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
        },
      },
    });
  }
}
