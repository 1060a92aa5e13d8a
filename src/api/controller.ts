/**
 * The Lease the controller's replicas elect a leader with, one per namespace: the chart's NOTES and
 * the least-privilege RBAC name it, so it is part of the controller's contract with its installers.
 */
export const LEASE_NAME = 'orchard-controller';
