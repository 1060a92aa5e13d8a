import { Command } from 'commander';
import { registerBench } from './bench.ts';
import { registerController } from './controller.ts';
import { registerDemo } from './demo.ts';
import { registerDev } from './dev.ts';
import { registerOutputs } from './outputs.ts';
import { registerRun } from './run.ts';
import { registerSynth } from './synth.ts';

const program = new Command()
  .name('orchard')
  .description('ResNet50 feature datasets from fruit photos on EMR on EKS, and a record of every Parquet dataset written')
  .showHelpAfterError()
  .exitOverride((error) => {
    // commander exits 1 on usage errors; orchard keeps 1 for failures and 2 for usage.
    process.exit(error.exitCode === 0 ? 0 : 2);
  });

registerDev(program);
registerDemo(program);
registerSynth(program);
registerController(program);
registerOutputs(program);
registerRun(program);
registerBench(program);

await program.parseAsync(process.argv);
