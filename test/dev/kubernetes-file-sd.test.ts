import { describe, expect, it } from 'vitest';
import { endpointsTargets, podTargets } from '../../src/dev/kubernetes-file-sd.ts';

const driver = {
  metadata: { name: 'job-driver', namespace: 'orchard', labels: { 'spark-role': 'driver', 'orchard.fruits.dev/job': 'job' } },
  spec: { nodeName: 'orchard-node', containers: [{ name: 'spark-kubernetes-driver', ports: [{ name: 'driver-rpc-port', containerPort: 7078 }, { name: 'spark-ui', containerPort: 4040 }] }] },
  status: { phase: 'Running', podIP: '10.244.0.7' },
};

describe('Kubernetes discovery written to files, with the labels of Prometheus\'s own', () => {
  it('gives a pod a target per container port, with its labels sanitized and marked present', () => {
    const targets = podTargets([driver, { ...driver, metadata: { ...driver.metadata, name: 'pending' }, status: { phase: 'Pending' } }]);
    expect(targets.map((t) => t.targets[0])).toEqual(['10.244.0.7:7078', '10.244.0.7:4040']);
    expect(targets[1]!.labels).toMatchObject({
      __meta_kubernetes_namespace: 'orchard',
      __meta_kubernetes_pod_name: 'job-driver',
      __meta_kubernetes_pod_phase: 'Running',
      __meta_kubernetes_pod_container_name: 'spark-kubernetes-driver',
      __meta_kubernetes_pod_container_port_name: 'spark-ui',
      __meta_kubernetes_pod_label_orchard_fruits_dev_job: 'job',
      __meta_kubernetes_pod_labelpresent_orchard_fruits_dev_job: 'true',
    });
  });

  it('gives an Endpoints address its Service\'s labels and its pod\'s name and container', () => {
    const controller = { metadata: { name: 'orchard-controller-abc', namespace: 'orchard', labels: { app: 'c' } }, spec: { containers: [{ name: 'controller', ports: [{ name: 'metrics', containerPort: 8080 }] }] }, status: { phase: 'Running', podIP: '10.244.0.5' } };
    const [target] = endpointsTargets(
      [{ metadata: { name: 'orchard-controller', namespace: 'orchard' }, subsets: [{ addresses: [{ ip: '10.244.0.5', targetRef: { kind: 'Pod', name: 'orchard-controller-abc' } }], ports: [{ name: 'metrics', port: 8080 }] }] }],
      [{ metadata: { name: 'orchard-controller', namespace: 'orchard', labels: { 'app.kubernetes.io/name': 'orchard-controller' } } }],
      [controller],
    );
    expect(target!.targets).toEqual(['10.244.0.5:8080']);
    expect(target!.labels).toMatchObject({
      __meta_kubernetes_service_name: 'orchard-controller',
      __meta_kubernetes_service_label_app_kubernetes_io_name: 'orchard-controller',
      __meta_kubernetes_endpoint_port_name: 'metrics',
      __meta_kubernetes_pod_name: 'orchard-controller-abc',
      __meta_kubernetes_pod_container_name: 'controller',
    });
  });
});
