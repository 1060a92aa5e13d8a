import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.ts';
import { cacheRoot } from '../paths.ts';
import { installOnce } from './toolchain.ts';

/**
 * The local S3 server: versitygw, an Apache-2.0 S3 gateway over a POSIX folder. Chosen over MinIO,
 * moto and s3proxy by measured fidelity for S3A (see the README's "Local stack" section).
 */
export const S3_SERVER = { name: 'versitygw', version: 'v1.8.0', module: 'github.com/versity/versitygw/cmd/versitygw' } as const;

/** An unauthenticated health endpoint, answering 200 once the gateway serves requests. */
const HEALTH_PATH = '/health';

export interface S3ServerInstall {
  readonly executable: string;
}

export interface S3ServerOptions {
  /** Where it listens: loopback, or the node's address, which pods and the host both reach. @default 127.0.0.1 */
  readonly address?: string;
  readonly port: number;
  readonly dataDir: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** Append one line per request (S3 server access log format) to this file. */
  readonly accessLog?: string;
}

export interface Launch {
  readonly executable: string;
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
}

/** Where versitygw is once installed; nothing is installed here. */
export function s3ServerPath(): string {
  return join(cacheRoot(), 'bin', `${S3_SERVER.name}-${S3_SERVER.version}`, S3_SERVER.name);
}

/** Installs versitygw with `go install` at the pinned version, once, into the cache. */
export async function ensureS3Server(log: Logger): Promise<S3ServerInstall> {
  const executable = s3ServerPath();
  const dir = dirname(executable);
  await installOnce(dir, `${S3_SERVER.name}-${S3_SERVER.version}`, log, () => existsSync(executable), (staging) => [
    {
      what: `${S3_SERVER.name} ${S3_SERVER.version}`,
      // No replace directives upstream, so go install at the pinned version builds it as released.
      args: ['install', '-trimpath', `${S3_SERVER.module}@${S3_SERVER.version}`],
      cwd: cacheRoot(),
      env: { GOBIN: staging, GOFLAGS: '-buildvcs=false' },
    },
  ]);
  return { executable };
}

/**
 * The command line for one server. Object metadata (ETags, content types, multipart state) goes to a
 * sidecar folder rather than extended attributes, which not every filesystem (overlayfs, tmpfs
 * in containers) offers to unprivileged users.
 */
export function s3ServerLaunch(install: S3ServerInstall, options: S3ServerOptions): Launch {
  return {
    executable: install.executable,
    args: [
      '--port', `${options.address ?? '127.0.0.1'}:${options.port}`,
      '--region', options.region,
      '--health', HEALTH_PATH,
      '--quiet',
      ...(options.accessLog ? ['--access-log', options.accessLog] : []),
      'posix',
      '--sidecar', join(options.dataDir, 'meta'),
      join(options.dataDir, 'root'),
    ],
    // Credentials through the environment keep them out of `ps` output.
    env: { ROOT_ACCESS_KEY_ID: options.accessKeyId, ROOT_SECRET_ACCESS_KEY: options.secretAccessKey },
  };
}

/** The folders the server expects to exist before it starts. */
export async function prepareS3DataDir(dataDir: string): Promise<void> {
  await mkdir(join(dataDir, 'meta'), { recursive: true });
  await mkdir(join(dataDir, 'root'), { recursive: true });
}

export async function s3ServerReady(endpoint: string): Promise<boolean> {
  const response = await fetch(`${endpoint}${HEALTH_PATH}`, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.status === 200;
}
