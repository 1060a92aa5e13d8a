/**
 * Structured logging: one JSON object per line on stderr, so that a log collector can parse it.
 * On an interactive terminal the same records are printed as short readable lines instead.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function threshold(): number {
  const wanted = (process.env.ORCHARD_LOG_LEVEL ?? 'info') as Level;
  return ORDER[wanted] ?? ORDER.info;
}

export type Format = 'json' | 'pretty';

function pretty(forced?: Format): boolean {
  const format = forced ?? process.env.ORCHARD_LOG_FORMAT;
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return Boolean(process.stderr.isTTY);
}

function render(level: Level, msg: string, fields: Fields, format?: Format): string {
  if (!pretty(format)) {
    return JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, errorReplacer);
  }
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, errorReplacer)}`)
    .join(' ');
  const clock = new Date().toISOString().slice(11, 19);
  return `${clock} ${level.padEnd(5)} ${msg}${extra ? `  ${extra}` : ''}`;
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** `format` fixes the output format, e.g. JSON for a log file whatever the terminal is. */
export function createLogger(base: Fields = {}, write: (line: string) => void = (l) => process.stderr.write(`${l}\n`), format?: Format): Logger {
  const emit = (level: Level) => (msg: string, fields: Fields = {}) => {
    if (ORDER[level] < threshold()) return;
    write(render(level, msg, { ...base, ...fields }, format));
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...base, ...fields }, write, format),
  };
}

export const log = createLogger();
