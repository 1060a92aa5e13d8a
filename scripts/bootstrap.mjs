#!/usr/bin/env node
// Installs the project's npm dependencies when they are missing or older than package-lock.json.
// Runs before `npm start` and `npm test`, so both work from a clean clone; it uses nothing but Node.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`error: Node ${process.versions.node} is too old: orchard needs Node 20.19 or newer (vitest 4 and the AWS SDK require it).`);
  process.exit(1);
}

const lock = readFileSync(join(root, 'package-lock.json'));
const digest = createHash('sha256').update(lock).digest('hex');
const stamp = join(root, 'node_modules', '.orchard-lock-sha256');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) {
  console.error('[bootstrap] cache npm dependencies: warm (node_modules matches package-lock.json)');
  process.exit(0);
}

const started = Date.now();
console.error('[bootstrap] cache npm dependencies: cold; installing them (npm ci)');
const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error('error: `npm ci` failed. Check that the npm registry is reachable, then run the command again.');
  process.exit(result.status ?? 1);
}
writeFileSync(stamp, digest);
console.error(`[bootstrap] npm dependencies installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
