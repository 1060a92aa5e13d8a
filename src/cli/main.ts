import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: `orchard outputs` does not load cdk8s,
 * the job builder or the local stack. Help with no command loads them all to list them, in this order.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  dev: async () => (await import('./dev.ts')).registerDev,
  demo: async () => (await import('./demo.ts')).registerDemo,
  synth: async () => (await import('./synth.ts')).registerSynth,
  controller: async () => (await import('./controller.ts')).registerController,
  outputs: async () => (await import('./outputs.ts')).registerOutputs,
  gc: async () => (await import('./gc.ts')).registerGc,
  run: async () => (await import('./run.ts')).registerRun,
  bench: async () => (await import('./bench.ts')).registerBench,
};

const program = new Command()
  .name('orchard')
  .description('ResNet50 feature datasets from fruit photos on EMR on EKS, and a record of every Parquet dataset written')
  .showHelpAfterError()
  .exitOverride((error) => {
    // commander exits 1 on usage errors; orchard keeps 1 for failures and 2 for usage.
    process.exit(error.exitCode === 0 ? 0 : 2);
  });

const named = COMMANDS[process.argv[2] ?? ''];
for (const load of named ? [named] : Object.values(COMMANDS)) (await load())(program);

await program.parseAsync(process.argv);
