/** RFC 1123 label syntax, as Kubernetes' `IsDNS1123Label` checks it. */
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Whether `value` is a DNS-1123 label: what Kubernetes requires of namespaces, and what Argo CD
 * requires of AppProject names. The one definition of the rule, for every validator of orchard's.
 */
export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS_1123_LABEL.test(value);
}
