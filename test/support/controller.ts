import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { StackState } from '../../src/dev/stack.ts';
import { CONTROLLER_NODE_FLAGS } from '../../src/dev/controller-bundle.ts';
import { requireTool } from '../../src/dev/tools.ts';
import { CliProcess } from './cli-process.ts';

export interface ControllerProcessOptions {
  readonly kubeconfig: string;
  readonly s3Endpoint: string;
  readonly stack: StackState;
  readonly namespace: string;
  readonly id: string;
  readonly args?: readonly string[];
  /** Run the bundle the controller image holds (dist/controller/controller.mjs) with plain node, not the CLI through tsx. */
  readonly bundle?: boolean;
}

/** `orchard controller` as a child process, the way it runs in a pod: JSON logs, signals, exit code. */
export class ControllerProcess extends CliProcess {
  port = 0;

  static async start(options: ControllerProcessOptions): Promise<ControllerProcess> {
    const controller = new ControllerProcess(
      [
        ...(options.bundle ? [] : ['controller']),
        '--kubeconfig', options.kubeconfig,
        '--namespace', options.namespace,
        '--lease-namespace', options.namespace,
        '--id', options.id,
        '--port', '0',
        '--s3-endpoint', options.s3Endpoint,
        ...(options.args ?? []),
      ],
      {
        AWS_ACCESS_KEY_ID: options.stack.s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: options.stack.s3.secretAccessKey,
        AWS_REGION: options.stack.s3.region,
      },
      options.bundle ? requireTool('controller bundle') : undefined,
      options.bundle ? CONTROLLER_NODE_FLAGS : [],
    );
    controller.port = (await controller.waitFor('controller starting', 30_000)).port as number;
    return controller;
  }

  async get(path: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: response.status, body: await response.text() };
  }

  /** A Prometheus sample's value, summed over label sets matching `labels`. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const { body } = await this.get('/metrics');
    let total = 0;
    for (const line of body.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? ([^ ]+)/.exec(line);
      if (!match || match[1] !== name) continue;
      const set = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([k, v]) => set[k] === v)) total += Number(match[3]);
    }
    return total;
  }
}

/** A kubeconfig for the same cluster and user, reached through `port` (a TcpProxy) on loopback. */
export function kubeconfigThrough(kc: KubeConfig, port: number, dir: string, name = 'kubeconfig'): string {
  const exported = JSON.parse(kc.exportConfig()) as { clusters: { cluster: { server: string } }[] };
  for (const c of exported.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(exported), { mode: 0o600 });
  return file;
}
