import { resolve } from 'node:path';
import type { Command } from 'commander';
import { log } from '../log.ts';
import { NODE_NAME } from '../dev/node/config.ts';
import { defaultStateDir } from '../paths.ts';
import { down, kubectlBinDir, readState, stackEnv, status, up } from '../dev/stack.ts';
import { OrchardError } from '../errors.ts';
import { EXIT, runCommand } from './exit.ts';

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function formatTimings(timings: Readonly<Record<string, number>>): string {
  return Object.entries(timings)
    .map(([stage, s]) => `${stage} ${s.toFixed(1)} s`)
    .join(', ');
}

export function registerDev(program: Command): void {
  const dev = program
    .command('dev')
    .description('a local Kubernetes cluster on this machine (control plane, one real node, the spark-operator) and an S3 server, for development and tests');

  const STATE_HELP = 'folder holding the stack\'s state, certificates, data and logs (env ORCHARD_DEV_STATE)';
  const stateDir = (cmd: Command) => resolve((cmd.opts() as { state: string }).state);

  dev
    .command('up')
    .option('--state <dir>', STATE_HELP, defaultStateDir())
    .option('--no-node', 'the control plane and the S3 server only, on loopback: objects are stored and watched, but no pod runs (what most tests need; no root)')
    .description(
      'start etcd, kube-apiserver, kube-controller-manager, the S3 server and a real node (containerd, kubelet, kube-proxy, CoreDNS, the spark-operator; needs root), ' +
        'or reuse the running ones; install the CRDs and create the bucket',
    )
    .action((opts: { node: boolean }, cmd: Command) =>
      runCommand(async () => {
        const started = Date.now();
        const node = opts.node;
        const result = await up({ stateDir: stateDir(cmd), log, node });
        const total = ((Date.now() - started) / 1000).toFixed(1);
        const how = result.reused ? 'reused the running stack' : 'started';
        process.stdout.write(
          `dev stack ${how} in ${total} s (${formatTimings(result.timings)})\n` +
            `  kube-apiserver ${result.state.apiServer}  (Kubernetes ${result.state.versions.kubernetes})\n` +
            `  S3             ${result.state.s3.endpoint}  bucket ${result.state.s3.bucket}  (${result.state.versions.s3})\n` +
            (node ? `  node           ${NODE_NAME} at ${result.state.address}  (containerd, kubelet, kube-proxy, CoreDNS, spark-operator)\n` : '  node           none (--no-node): SparkApplications are stored, not run\n') +
            `  state          ${result.state.stateDir}\n` +
            `use it from a shell with: eval "$(npx orchard dev env)"\n`,
        );
      }),
    );

  dev
    .command('down')
    .option('--state <dir>', STATE_HELP, defaultStateDir())
    .description('stop every process the stack started and remove its state')
    .action((_opts, cmd: Command) =>
      runCommand(async () => {
        const result = await down({ stateDir: stateDir(cmd), log });
        process.stdout.write(result.stopped.length > 0 ? `stopped ${result.stopped.join(', ')}\n` : 'no dev stack was running\n');
      }),
    );

  dev
    .command('status')
    .option('--state <dir>', STATE_HELP, defaultStateDir())
    .description('say which parts of the stack run; exit 0 when all are healthy, 3 when none runs')
    .action((_opts, cmd: Command) =>
      runCommand(async () => {
        const result = await status(stateDir(cmd));
        if (!result.state) {
          process.stdout.write(`no dev stack in ${stateDir(cmd)}\n`);
          return EXIT.absent;
        }
        const rows = result.components.map((c) => `  ${c.name.padEnd(24)} ${c.running ? 'running' : 'STOPPED'}  pid ${String(c.pid).padEnd(8)} port ${String(c.port ?? '-').padEnd(6)} ${c.log}`);
        process.stdout.write(`dev stack in ${result.state.stateDir}: ${result.healthy ? 'healthy' : 'NOT HEALTHY'}\n${rows.join('\n')}\n`);
        return result.healthy ? EXIT.ok : EXIT.failed;
      }),
    );

  dev
    .command('env')
    .option('--state <dir>', STATE_HELP, defaultStateDir())
    .description('print shell exports for the running stack: eval "$(npx orchard dev env)"; exit 3 when none runs')
    .action((_opts, cmd: Command) =>
      runCommand(async () => {
        const state = await readState(stateDir(cmd));
        if (!state) {
          process.stderr.write(new OrchardError(`no dev stack in ${stateDir(cmd)}`, 'start one with `npx orchard dev up`').describe() + '\n');
          return EXIT.absent;
        }
        const lines = Object.entries(stackEnv(state)).map(([key, value]) => `export ${key}=${shellQuote(value)}`);
        lines.push(`export PATH=${shellQuote(kubectlBinDir(state))}:"$PATH"`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
