import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Probes {
  /** Alive: the process answers and has not given up (a lost lease ends the process instead). */
  healthy(): boolean;
  /** Ready: the informer cache is synced, so this replica can lead at once. */
  ready(): { ok: boolean; detail: string };
  /** Called before each scrape so gauges derived from caches are current. */
  beforeScrape?(): void;
}

/** `/healthz`, `/readyz` and `/metrics` on one port, as the Deployment's probes and the ServiceMonitor expect. */
export async function startProbeServer(port: number, host: string, registry: Registry, probes: Probes): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return probes.healthy() ? reply(200, 'ok\n') : reply(503, 'unhealthy\n');
    if (path === '/readyz') {
      const { ok, detail } = probes.ready();
      return reply(ok ? 200 : 503, `${detail}\n`);
    }
    if (path === '/metrics') {
      probes.beforeScrape?.();
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (error: unknown) => reply(500, `${String(error)}\n`),
      );
      return;
    }
    reply(404, 'not found: try /healthz, /readyz or /metrics\n');
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveListen());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
