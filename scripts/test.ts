/**
 * `npm test`: every test of the project, in stages, against one local stack started once.
 * Prints the time each stage took and closes with one `N passed, N failed, N skipped` line that
 * sums vitest's and pytest's own reports.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { down, stackEnv, kubectlBinDir, up, type StackState } from '../src/dev/stack.ts';
import { requirePythonSetup } from '../src/dev/tools.ts';
import { createLogger } from '../src/log.ts';
import { cacheRoot, REPO_ROOT } from '../src/paths.ts';

const log = createLogger({ component: 'test' });
const reports = join(REPO_ROOT, '.orchard', 'reports');
const stateDir = process.env.ORCHARD_TEST_STATE ?? join(REPO_ROOT, '.orchard', 'test');

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Runs a command with its output on this one's, or into `output` (a file) when given. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = REPO_ROOT, output?: string): Promise<number> {
  return new Promise((resolveRun) => {
    const file = output ? openSync(output, 'w') : undefined;
    const child = spawn(command, args, { cwd, env, stdio: file === undefined ? 'inherit' : ['ignore', file, file] });
    if (file !== undefined) closeSync(file);
    child.on('error', (error) => {
      log.error(`could not run ${command}`, { error: error.message });
      resolveRun(127);
    });
    child.on('close', (code) => resolveRun(code ?? 1));
  });
}

async function vitestCounts(file: string): Promise<Counts> {
  const report = JSON.parse(await readFile(file, 'utf8')) as { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
  return { passed: report.numPassedTests, failed: report.numFailedTests, skipped: report.numPendingTests + report.numTodoTests };
}

async function junitCounts(file: string): Promise<Counts> {
  const xml = await readFile(file, 'utf8');
  const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? '';
  const attr = (name: string) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite)?.[1] ?? 0);
  const failed = attr('failures') + attr('errors');
  const skipped = attr('skipped');
  return { passed: attr('tests') - failed - skipped, failed, skipped };
}

async function main(): Promise<number> {
  await rm(reports, { recursive: true, force: true });
  await mkdir(reports, { recursive: true });
  const timings: [string, number, string][] = [];
  const totals: Counts = { passed: 0, failed: 0, skipped: 0 };
  let failedStages = 0;

  const stage = async (name: string, body: () => Promise<boolean>) => {
    const started = Date.now();
    process.stderr.write(`\n== ${name}\n`);
    let ok = false;
    try {
      ok = await body();
    } catch (error) {
      log.error(`${name} failed`, { error: error instanceof Error ? error.message : String(error) });
      if (error instanceof Error && 'describe' in error) process.stderr.write(`${(error as { describe(): string }).describe()}\n`);
    }
    const seconds = (Date.now() - started) / 1000;
    timings.push([name, seconds, ok ? 'ok' : 'FAILED']);
    process.stderr.write(`== ${name}: ${ok ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)} s\n`);
    if (!ok) failedStages += 1;
    return ok;
  };

  // Every tool any test uses is installed here, before the first test starts: tests only find them.
  if (!(await stage('setup (npm run setup: every tool the tests use)', async () => (await run('tsx', [join(REPO_ROOT, 'scripts', 'setup.ts')])) === 0))) {
    return finish(timings, totals, 1);
  }
  await stage('typecheck (tsc)', async () => (await run('tsc', ['--noEmit', '-p', '.'])) === 0);
  // Zero findings is the bar: a warning fails the stage as an error does. Layers are checked by test/layers.test.ts.
  await stage('lint (eslint, ruff)', async () => {
    const eslint = await run('eslint', ['.', '--max-warnings', '0']);
    const ruff = await run(requirePythonSetup().python, ['-m', 'ruff', 'check', '--no-cache', '.'], process.env, join(REPO_ROOT, 'spark-images'));
    return eslint === 0 && ruff === 0;
  });

  let state: StackState | undefined;
  let startedStack = false;
  const stackUp = await stage('local stack (orchard dev up)', async () => {
    const result = await up({ stateDir, log });
    state = result.state;
    startedStack = !result.reused;
    process.stderr.write(`stack ${result.reused ? 'reused' : 'started'}: ${Object.entries(result.timings).map(([k, v]) => `${k} ${v} s`).join(', ')}\n`);
    return true;
  });

  try {
    if (stackUp && state) {
      const env = {
        ...process.env,
        ...stackEnv(state),
        PATH: `${kubectlBinDir(state)}:${process.env.PATH ?? ''}`,
        ORCHARD_TEST_STATE: stateDir,
        ORCHARD_CACHE: cacheRoot(),
      };
      const vitest = (projects: readonly string[], report: string) => async () => {
        const file = join(reports, report);
        const code = await run('vitest', ['run', ...projects.flatMap((project) => ['--project', project]), '--reporter=default', '--reporter=json', `--outputFile.json=${file}`], env);
        if (existsSync(file)) Object.entries(await vitestCounts(file)).forEach(([k, v]) => (totals[k as keyof Counts] += v));
        return code === 0;
      };
      // pytest runs beside the unit and integration tests, which leave a core idle for much of
      // their time (servers starting, leases and watches expiring); its output is printed when it
      // ends, so that the two do not interleave. The node tests run alone, after both.
      await Promise.all([
        stage('vitest (unit and integration projects)', vitest(['unit', 'integration'], 'vitest.json')),
        stage('pytest (spark-images: the PySpark job), beside them', async () => {
          const file = join(reports, 'pytest.xml');
          const output = join(reports, 'pytest.log');
          const code = await run('bash', [join(REPO_ROOT, 'spark-images', 'test.sh'), `--junitxml=${file}`], env, REPO_ROOT, output);
          process.stderr.write(`\n== pytest output (${output})\n${await readFile(output, 'utf8')}`);
          if (existsSync(file)) Object.entries(await junitCounts(file)).forEach(([k, v]) => (totals[k as keyof Counts] += v));
          return code === 0;
        }),
      ]);
      await stage('vitest (node project: a real Kubernetes node, alone)', vitest(['node'], 'vitest-node.json'));
    }
  } finally {
    if (startedStack && !process.env.ORCHARD_KEEP_STACK) await down({ stateDir, log });
  }

  return finish(timings, totals, failedStages);
}

function finish(timings: readonly [string, number, string][], totals: Counts, failedStages: number): number {
  process.stderr.write('\n== stage timings\n');
  for (const [name, seconds, result] of timings) process.stderr.write(`  ${name.padEnd(48)} ${seconds.toFixed(1).padStart(7)} s  ${result}\n`);
  process.stdout.write(`\norchard: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
  return failedStages === 0 && totals.failed === 0 ? 0 : 1;
}

process.exitCode = await main();
