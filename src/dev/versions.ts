/**
 * Versions of the local stack's components, pinned here and nowhere else. Each binary is built
 * once and cached under a folder named for its version, so a bump here builds anew.
 */

/** Kubernetes 1.35 is in EKS standard support; the Go module proxy serves this patch release. */
export const KUBERNETES_VERSION = 'v1.35.4';

/** kube-apiserver 1.31+ needs etcd >= 3.5.13 for watch progress requests (kubernetes#124612). */
export const ETCD_VERSION = 'v3.6.14';

/** Go directive of the wrapper modules: Kubernetes 1.35 is built with Go 1.25. */
export const GO_MINIMUM = '1.25';

/**
 * Helm for the chart in charts/orchard: v3.20 is the newest minor whose go.mod needs no more than
 * GO_MINIMUM, and it is built with client-go 0.35, the minor of KUBERNETES_VERSION.
 */
export const HELM_VERSION = 'v3.20.2';

/** The Spark operator EMR on EKS users run (kubeflow's v2 line; its chart turns the webhook on by default). */
export const SPARK_OPERATOR_VERSION = 'v2.5.2';

/** Cluster DNS of the local node: the CoreDNS release line that Kubernetes 1.35 ships with. */
export const COREDNS_VERSION = 'v1.14.7';
