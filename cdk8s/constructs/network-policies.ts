import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { SPARK_UI_PORT } from '../../src/spark/application.ts';
import { CONTROLLER_METRICS_PORT } from './controller.ts';
import { platformLabels } from './labels.ts';

export interface NetworkPoliciesProps {
  readonly namespace: string;
  /** Prometheus may scrape the Spark drivers and the controller from here, and only from here. */
  readonly prometheusNamespace: string;
  /** A non-AWS S3 endpoint the pods must reach; on AWS, S3, STS and the API server all answer on 443. */
  readonly s3Endpoint?: string;
}

/**
 * Default deny in the namespace, then exactly the traffic orchard needs: Spark's driver and
 * executors talk to each other on ports Spark picks (block manager, RPC), everything calls DNS and
 * HTTPS (S3, STS for IRSA, the API server), Prometheus scrapes the metrics ports.
 */
export class NetworkPolicies extends Construct {
  constructor(scope: Construct, id: string, props: NetworkPoliciesProps) {
    super(scope, id);
    const labels = platformLabels('network');
    const metadata = (name: string) => ({ name, namespace: props.namespace, labels });
    const anywhere = kplus.NetworkPolicyIpBlock.anyIpv4(this, 'anywhere');
    const dns = kplus.Namespaces.select(this, 'kube-system', { names: ['kube-system'] });
    const prometheus = kplus.Namespaces.select(this, 'prometheus', { names: [props.prometheusNamespace] });
    const outbound: kplus.NetworkPolicyRule[] = [
      { peer: dns, ports: [kplus.NetworkPolicyPort.udp(53), kplus.NetworkPolicyPort.tcp(53)] },
      { peer: anywhere, ports: [kplus.NetworkPolicyPort.tcp(443)] },
    ];
    if (props.s3Endpoint) {
      const url = new URL(props.s3Endpoint);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      if (port !== 443) outbound.push({ peer: anywhere, ports: [kplus.NetworkPolicyPort.tcp(port)] });
    }

    new kplus.NetworkPolicy(this, 'default-deny', {
      metadata: metadata('default-deny'),
      selector: kplus.Pods.all(this, 'all-pods'),
      ingress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
      egress: { default: kplus.NetworkPolicyTrafficDefault.DENY },
    });

    const spark = kplus.Pods.select(this, 'spark-pods', { labels: { 'app.kubernetes.io/part-of': 'orchard', 'app.kubernetes.io/component': 'feature-extraction' } });
    new kplus.NetworkPolicy(this, 'spark', {
      metadata: metadata('orchard-spark'),
      selector: spark,
      ingress: { rules: [{ peer: spark }, { peer: prometheus, ports: [kplus.NetworkPolicyPort.tcp(SPARK_UI_PORT)] }] },
      egress: { rules: [{ peer: spark }, ...outbound] },
    });

    const controller = kplus.Pods.select(this, 'controller-pods', { labels: { 'app.kubernetes.io/name': 'orchard-controller' } });
    new kplus.NetworkPolicy(this, 'controller', {
      metadata: metadata('orchard-controller'),
      selector: controller,
      ingress: { rules: [{ peer: prometheus, ports: [kplus.NetworkPolicyPort.tcp(CONTROLLER_METRICS_PORT)] }] },
      egress: { rules: outbound },
    });
  }
}
