import { PRECISIONS, type Precision } from '../spark/application.ts';
import { UsageError } from './exit.ts';

// Apart from flags.ts, so the commands that take no --precision (the controller) do not load the job builder.
/** `--precision int8|fp32`: which of the image's models the job runs. */
export function precisionFlag(value: string): Precision {
  if (!(PRECISIONS as readonly string[]).includes(value)) throw new UsageError(`--precision ${JSON.stringify(value)} is not one of ${PRECISIONS.join(', ')}`, `pass --precision ${PRECISIONS[0]} (the default) or --precision fp32`);
  return value as Precision;
}
