import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, type RawResponse } from '../../src/kube/raw.ts';

export type Request = (method: string, path: string, body?: unknown, contentType?: string) => Promise<RawResponse>;

/**
 * Requests made as `user` through the admin's credentials. For a `system:serviceaccount:` user the
 * API server adds the service account groups itself, so the request is authorized exactly as one
 * carrying that account's token.
 */
export function impersonating(kc: KubeConfig, user: string): Request {
  return (method, path, body, contentType) => kubeRequest(kc, method, path, body, contentType, { 'Impersonate-User': user });
}
