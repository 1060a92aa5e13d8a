/**
 * What the dev runner learns from a driver's output, line by line: what the operator reads from
 * the driver pod (the application id, the UI) and what it reports when the pod fails (here, the
 * job's own last error rather than only an exit code).
 */

export interface DriverFacts {
  /** Local Spark's application id (`local-<millis>`), named in the log when the event log starts. */
  readonly appId?: string;
  readonly uiPort?: number;
  /** The job's last error record (orchard.featurize JSON log, level error). */
  readonly jobError?: string;
  /** The last Python exception line of a traceback. */
  readonly pythonError?: string;
  /** The last log4j ERROR line. */
  readonly sparkError?: string;
}

const APP_ID = /(?<![A-Za-z0-9])(local-\d{10,})(?!\d)/;
const UI_PORT = /Successfully started service 'SparkUI' on port (\d+)/;
const PYTHON_ERROR = /^([A-Za-z_][\w.]*(?:Error|Exception)): .+/;
const LOG4J_ERROR = /^\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d ERROR (\S+): (.+)$/;

/** The facts after one more line; the same object when the line adds nothing. */
export function scanLine(facts: DriverFacts, line: string): DriverFacts {
  if (line.startsWith('{')) {
    try {
      const record = JSON.parse(line) as { logger?: string; level?: string; error?: unknown; message?: unknown; event?: unknown };
      if (record.logger === 'orchard.featurize' && record.level === 'error') return { ...facts, jobError: String(record.error ?? record.message ?? record.event) };
    } catch {
      // a log line that happens to start with a brace
    }
    return facts;
  }
  const log4j = LOG4J_ERROR.exec(line);
  if (log4j) return { ...facts, sparkError: `${log4j[1]}: ${log4j[2]}` };
  if (PYTHON_ERROR.test(line)) return { ...facts, pythonError: line };
  if (facts.appId === undefined) {
    const id = APP_ID.exec(line);
    if (id) return { ...facts, appId: id[1] };
  }
  if (facts.uiPort === undefined) {
    const port = UI_PORT.exec(line);
    if (port) return { ...facts, uiPort: Number(port[1]) };
  }
  return facts;
}

/** The most telling error: the job's own words first, then Python's, then Spark's. */
export function driverError(facts: DriverFacts): string | undefined {
  return facts.jobError ?? facts.pythonError ?? facts.sparkError;
}
