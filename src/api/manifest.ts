/**
 * A Kubernetes object in wire format (what YAML files and the API server hold). client-node's
 * typed models rename fields (x-kubernetes-validations becomes xKubernetesValidations), so objects
 * that orchard renders for files and server-side apply stay in this plain shape.
 */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly [key: string]: unknown;
  };
  readonly [key: string]: unknown;
}

/** The fields of any object the informer needs; the rest is passed through untouched. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid: string; readonly resourceVersion: string; readonly [field: string]: unknown };
  readonly [field: string]: unknown;
}
