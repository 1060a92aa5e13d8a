import { OrchardError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** Exit codes shared by every command. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: a server did not start, a job failed, a check did not pass. */
  failed: 1,
  /** The command line was wrong (commander's own code for usage errors). */
  usage: 2,
  /** The thing asked about is not there: no stack running, no such object. */
  absent: 3,
} as const;

/** A signal aborted by SIGTERM or SIGINT, for commands that run until stopped (a pod's shutdown, Ctrl-C). */
export function abortOnSignals(log: Logger): AbortSignal {
  const abort = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    log.info('signal received: stopping', { signal });
    abort.abort();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return abort.signal;
}

/** A wrong command line (a flag value that does not parse): exits 2, like commander's own usage errors. */
export class UsageError extends OrchardError {}

/** Runs a command body; prints an OrchardError as message + context + fix, anything else with its stack. */
export async function runCommand(body: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await body()) ?? EXIT.ok;
  } catch (error) {
    if (error instanceof OrchardError) {
      process.stderr.write(`error: ${error.describe()}\n`);
    } else {
      process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exitCode = error instanceof UsageError ? EXIT.usage : EXIT.failed;
  }
}
