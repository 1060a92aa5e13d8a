import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../src/paths.ts';
import type { StackState } from '../../src/dev/stack.ts';

export interface ControllerProcessOptions {
  readonly kubeconfig: string;
  readonly s3Endpoint: string;
  readonly stack: StackState;
  readonly namespace: string;
  readonly id: string;
  readonly args?: readonly string[];
}

/** `orchard controller` as a child process, the way it runs in a pod: JSON logs, signals, exit code. */
export class ControllerProcess {
  readonly logs: Record<string, unknown>[] = [];
  port = 0;
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buffer = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          this.logs.push(record);
          if (record.msg === 'controller starting') this.port = record.port as number;
        } catch {
          this.logs.push({ msg: line });
        }
      }
    });
    child.stdout!.resume();
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }

  static async start(options: ControllerProcessOptions): Promise<ControllerProcess> {
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'bin/orchard.mjs'),
        'controller',
        '--kubeconfig', options.kubeconfig,
        '--namespace', options.namespace,
        '--lease-namespace', options.namespace,
        '--id', options.id,
        '--port', '0',
        '--s3-endpoint', options.s3Endpoint,
        ...(options.args ?? []),
      ],
      {
        env: {
          ...process.env,
          ORCHARD_LOG_FORMAT: 'json',
          ORCHARD_LOG_LEVEL: 'debug',
          AWS_ACCESS_KEY_ID: options.stack.s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: options.stack.s3.secretAccessKey,
          AWS_REGION: options.stack.s3.region,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const controller = new ControllerProcess(child);
    const deadline = Date.now() + 30_000;
    while (controller.port === 0) {
      if (child.exitCode !== null) throw new Error(`controller exited ${child.exitCode}:\n${controller.tail()}`);
      if (Date.now() > deadline) throw new Error(`controller did not start within 30 s:\n${controller.tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return controller;
  }

  tail(n = 30): string {
    return this.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n');
  }

  has(msg: string, where: (record: Record<string, unknown>) => boolean = () => true): boolean {
    return this.logs.some((l) => l.msg === msg && where(l));
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

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  exit(): Promise<number | null> {
    return this.exited;
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
