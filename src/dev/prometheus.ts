import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { AptPackage } from './apt.ts';
import { freePort, startDetached, stopProcess, waitUntilReady } from './process.ts';

/** Where Debian's `prometheus` package (2.42 on bookworm) puts the server and promtool. */
export const PROMETHEUS_BINARIES = { prometheus: '/usr/bin/prometheus', promtool: '/usr/bin/promtool' } as const;

export const PROMETHEUS: AptPackage = { name: 'prometheus', binary: PROMETHEUS_BINARIES.promtool };

/** One series of a query's answer, as Prometheus's HTTP API returns it. */
export interface Series {
  readonly metric: Record<string, string>;
  readonly values?: [number, string][];
  readonly value?: [number, string];
}

/** A Prometheus server on loopback with its own data folder, for tests and local runs. */
export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly pid: number,
    readonly log: string,
  ) {}

  /** Starts Prometheus with `config` (prometheus.yml as an object) and `rules` (rule files by name), and waits until it is ready. */
  static async start(dir: string, config: Record<string, unknown>, rules: Readonly<Record<string, unknown>>, log: Logger): Promise<PrometheusServer> {
    const { prometheus } = PROMETHEUS_BINARIES;
    await mkdir(join(dir, 'data'), { recursive: true });
    const ruleFiles = Object.keys(rules).map((name) => join(dir, name));
    for (const [name, content] of Object.entries(rules)) await writeFile(join(dir, name), stringify(content, { lineWidth: 0 }));
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, stringify({ ...config, rule_files: ruleFiles }, { lineWidth: 0 }));
    const port = await freePort();
    const logFile = join(dir, 'prometheus.log');
    const started = startDetached(
      prometheus,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-lifecycle', '--log.format=json'],
      logFile,
    );
    const url = `http://127.0.0.1:${port}`;
    const server = new PrometheusServer(url, started.pid, logFile);
    const ms = await waitUntilReady(async () => (await fetch(`${url}/-/ready`)).ok, {
      what: 'prometheus',
      timeoutMs: 30_000,
      log: logFile,
      pid: started.pid,
      executable: prometheus,
      hint: 'read the log: a bad config or rule file is named there',
    });
    log.info('prometheus ready', { url, ms });
    return server;
  }

  /** Re-reads the config file (the lifecycle endpoint), for example after a file_sd target changed. */
  async reload(): Promise<void> {
    const response = await fetch(`${this.url}/-/reload`, { method: 'POST' });
    if (!response.ok) throw new OrchardError(`prometheus refused to reload: ${response.status} ${await response.text()}`, 'read the log', { log: this.log });
  }

  /** A range query over [start, end] (seconds since the epoch): every series with at least one sample. */
  queryRange(expr: string, start: number, end: number, stepSeconds = 1): Promise<Series[]> {
    return this.api('query_range', { query: expr, start: String(start), end: String(end), step: String(stepSeconds) });
  }

  /** An instant query at `time` (seconds since the epoch). */
  query(expr: string, time: number): Promise<Series[]> {
    return this.api('query', { query: expr, time: String(time) });
  }

  /** Every metric name Prometheus holds samples for. */
  async metricNames(): Promise<string[]> {
    const response = await fetch(`${this.url}/api/v1/label/__name__/values`);
    const body = (await response.json()) as { status: string; data: string[] };
    return body.data;
  }

  async stop(): Promise<void> {
    await stopProcess(this.pid);
  }

  private async api(path: string, params: Record<string, string>): Promise<Series[]> {
    const response = await fetch(`${this.url}/api/v1/${path}`, { method: 'POST', body: new URLSearchParams(params) });
    const body = (await response.json()) as { status: string; error?: string; data?: { result: Series[] } };
    if (body.status !== 'success') throw new OrchardError(`prometheus refused the query ${params.query}: ${body.error}`, 'fix the PromQL expression', { url: this.url });
    return body.data!.result;
  }
}
