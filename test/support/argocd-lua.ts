import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Runs Argo CD health checks in a real Lua 5.1 the way Argo CD's util/lua/lua.go runs them in
 * gopher-lua: the object is the global `obj`, the libraries are those of Argo CD's sandbox, the
 * script's last return value is the result, and ExecuteHealthLua's rules judge that result.
 */

/** Argo CD's health.HealthStatus; a missing message is "" there (omitempty). */
export interface HealthStatus {
  readonly status: string;
  readonly message: string;
}

export interface RunOptions {
  /** The lua5.1 binary (ensureLua). */
  readonly lua: string;
  /** argocd-cm's `resource.customizations.useOpenLibs.<group>_<kind>`. */
  readonly openLibs: boolean;
}

/** What Argo CD would fail the check with; it then shows the resource as Unknown with this message. */
export class HealthCheckError extends Error {
  override readonly name = 'HealthCheckError';
}

/** gitops-engine's health codes; ExecuteHealthLua turns any other status into Unknown. */
const HEALTH_CODES = new Set(['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown']);

const HARNESS = fileURLToPath(new URL('./argocd-health.lua', import.meta.url));

/**
 * A Lua 5.1 expression for a JSON-shaped value, shaped as Argo CD's decodeValue builds it from an
 * unstructured object: maps keyed by string, 1-based arrays, null as nil.
 */
export function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${value} has no JSON form, so no Kubernetes object holds it`);
    // JavaScript prints the shortest decimal that reads back as the same double; Lua reads it with strtod.
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'string') return luaString(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>).map(([key, item]) => `[${luaString(key)}] = ${luaLiteral(item)}`);
    return `{${fields.join(', ')}}`;
  }
  throw new Error(`a ${typeof value} has no place in a Kubernetes object`);
}

/**
 * A Lua string literal holding the UTF-8 bytes of `text`. Every byte outside printable ASCII is a
 * three-digit decimal escape: Lua 5.1 has no \x or \u escapes, and a shorter \ddd would take a
 * digit that follows it as part of the escape.
 */
export function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** What the harness printed about the script's return value. */
interface Report {
  readonly error?: string;
  readonly type?: string;
  readonly empty?: boolean;
  readonly status?: unknown;
  readonly message?: unknown;
  readonly statusType?: string;
  readonly messageType?: string;
}

/** The health Argo CD would show for `obj`, or a HealthCheckError where Argo CD would fail the check. */
export async function runHealthCheck(script: string, obj: unknown, options: RunOptions): Promise<HealthStatus> {
  const [result] = await runHealthChecks(script, [obj], options);
  if (result instanceof HealthCheckError) throw result;
  return result!;
}

/** runHealthCheck for many objects in one lua5.1 process, each in a fresh environment. */
export async function runHealthChecks(script: string, objects: readonly unknown[], options: RunOptions): Promise<(HealthStatus | HealthCheckError)[]> {
  const prelude = [
    `local HEALTH_SCRIPT = ${luaString(script)}`,
    `local OBJS = {${objects.map(luaLiteral).join(',\n')}}`,
    `local OPEN_LIBS = ${options.openLibs}`,
  ].join('\n');
  const lines = (await runLua(options.lua, `${prelude}\n${await readFile(HARNESS, 'utf8')}`)).trimEnd().split('\n');
  if (lines.length !== objects.length) throw new Error(`the harness reported on ${lines.length} of ${objects.length} objects: ${lines.join('\n')}`);
  return lines.map((line) => judge(JSON.parse(line) as Report));
}

/** ExecuteHealthLua's rules, applied to what the script returned. */
function judge(report: Report): HealthStatus | HealthCheckError {
  if (report.error !== undefined) return new HealthCheckError(report.error);
  if (report.type === 'nil') return { status: '', message: '' };
  if (report.type !== 'table') return new HealthCheckError(`expect table output from Lua script, not ${report.type}`);
  // gopher-json encodes an empty table as [], which does not unmarshal into a HealthStatus.
  if (report.empty) return { status: '', message: '' };
  for (const [field, type] of [['status', report.statusType], ['message', report.messageType]] as const) {
    if (type !== 'string' && type !== 'nil') return new HealthCheckError(`json: cannot unmarshal ${type} into Go struct field HealthStatus.${field} of type string`);
  }
  const status = typeof report.status === 'string' ? report.status : '';
  if (!HEALTH_CODES.has(status)) return { status: 'Unknown', message: 'Lua returned an invalid health status' };
  return { status, message: typeof report.message === 'string' ? report.message : '' };
}

/** Argo CD gives a check one second; this allows more for a cold start of the interpreter. */
const TIMEOUT_MS = 10_000;

function runLua(lua: string, program: string): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(lua, ['-'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0 && stdout.endsWith('\n')) return resolveRun(stdout);
      reject(new Error(`${lua} failed (${signal ?? `exit ${code}`}): ${Buffer.concat(err).toString('utf8') || stdout || 'no output'}`));
    });
    child.stdin.end(program);
  });
}
