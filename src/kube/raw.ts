import { createHash } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { AgentOptions, RequestOptions } from 'node:https';
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
  /** A new connection instead of a pooled one, when pooled connections may be the broken part. */
  fresh = false,
): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new OrchardError('the kubeconfig has no current cluster', 'set a current context with `kubectl config use-context`');
  const url = new URL(path, cluster.server);
  const options: RequestOptions = { method, headers: { Accept: 'application/json', ...headers } };
  await kc.applyToHTTPSOptions(options);
  if (!fresh) options.agent = sharedAgent(options.agent);
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

const agents = new Map<string, Agent>();

/**
 * client-node builds a new https.Agent, with a new TLS context, for every request: each call pays a
 * handshake and leaves garbage behind (a controller catching up on 1,000 jobs peaked at twice its
 * idle memory). Requests with the same TLS settings share one keep-alive agent instead; a proxy
 * agent (kubeconfig proxy-url) is left alone.
 */
function sharedAgent(agent: RequestOptions['agent']): RequestOptions['agent'] {
  if (!(agent instanceof Agent) || agent.constructor !== Agent) return agent;
  const tls = agent.options as AgentOptions;
  const key = createHash('sha256')
    .update(JSON.stringify([tls.ca, tls.cert, tls.key, tls.pfx, tls.passphrase, tls.rejectUnauthorized, tls.servername].map((v) => (v === undefined ? null : String(v)))))
    .digest('hex');
  let shared = agents.get(key);
  if (!shared) {
    shared = new Agent({ ...tls, keepAlive: true, maxSockets: 32 });
    agents.set(key, shared);
  }
  return shared;
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
