import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { OrchardError } from '../errors.ts';

export interface RawResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * A request to the API server with the kubeconfig's credentials, body sent and returned as is.
 * client-node's typed clients re-serialize objects through generated models, which drops wire-format
 * fields such as `x-kubernetes-int-or-string` in CRD schemas; orchard's manifests must reach the
 * server unchanged.
 */
export async function kubeRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  headers: Readonly<Record<string, string>> = {},
): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new OrchardError('the kubeconfig has no current cluster', 'set a current context with `kubectl config use-context`');
  const url = new URL(path, cluster.server);
  const options: RequestOptions = { method, headers: { Accept: 'application/json', ...headers } };
  await kc.applyToHTTPSOptions(options);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  if (payload !== undefined) options.headers = { ...options.headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) };
  return new Promise((resolveRequest, reject) => {
    const req = request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolveRequest({ status: res.statusCode ?? 0, body: text }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url.origin} within 30 s`)));
    req.on('error', (error) => reject(new OrchardError(`${method} ${url} failed: ${error.message}`, 'check that the API server runs (`orchard dev status`) and the kubeconfig points at it', {}, { cause: error })));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** The server's own message from a Status body, or the body itself. */
export function statusMessage(response: RawResponse): string {
  try {
    const status = JSON.parse(response.body) as { message?: string };
    if (status.message) return status.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return response.body.slice(0, 500);
}
