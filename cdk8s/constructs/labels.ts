/** The recommended labels on every platform object, so `kubectl get -l app.kubernetes.io/part-of=orchard` finds them all. */
export function platformLabels(component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': `orchard-${component}`,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'orchard',
    'app.kubernetes.io/managed-by': 'cdk8s',
  };
}

/** IRSA: the EKS pod identity webhook gives pods of an annotated service account web-identity credentials for the role. */
export function irsaAnnotations(roleArn: string | undefined): Record<string, string> {
  return roleArn ? { 'eks.amazonaws.com/role-arn': roleArn, 'eks.amazonaws.com/sts-regional-endpoints': 'true' } : {};
}
