import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readThirdPartyCrd, THIRD_PARTY_CRDS, thirdPartyCrdManifests } from '../../src/api/third-party-crds.ts';
import { REPO_ROOT, SHARED_DIR } from '../../src/paths.ts';
import { renderSparkApplicationStatus, STATUS_IMPORT } from '../../cdk8s/status-import.ts';

const haveShared = existsSync(join(SHARED_DIR, 'crds'));
const sparkApplications = THIRD_PARTY_CRDS.find((crd) => crd.file === 'sparkoperator.k8s.io_sparkapplications.yaml')!;

describe('third-party CRDs', () => {
  it.skipIf(!haveShared)('loads every pinned CRD from ../shared/crds and each is a CustomResourceDefinition', async () => {
    const manifests = await thirdPartyCrdManifests();
    expect(manifests.map((m) => m.metadata.name).sort()).toEqual([
      'applications.argoproj.io',
      'appprojects.argoproj.io',
      'podmonitors.monitoring.coreos.com',
      'prometheusrules.monitoring.coreos.com',
      'scheduledsparkapplications.sparkoperator.k8s.io',
      'servicemonitors.monitoring.coreos.com',
      'sparkapplications.sparkoperator.k8s.io',
    ]);
    for (const manifest of manifests) expect(manifest.kind).toBe('CustomResourceDefinition');
  });

  it('refuses a file whose sha256 differs from its pin, naming the file, both digests and the fix', async () => {
    const sharedDir = await mkdtemp(join(tmpdir(), 'orchard-shared-'));
    await mkdir(join(sharedDir, 'crds'));
    await writeFile(join(sharedDir, 'crds', sparkApplications.file), 'kind: CustomResourceDefinition # tampered\n');
    await expect(readThirdPartyCrd(sparkApplications, { sharedDir })).rejects.toThrow(
      new RegExp(`${sparkApplications.file} does not match its pin: sha256 [0-9a-f]{64}, expected ${sparkApplications.sha256}`),
    );
  });

  it.skipIf(!haveShared)('reads a verified copy from the cache when ../shared is absent', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'orchard-crd-cache-'));
    const folder = join(cacheDir, `${sparkApplications.repository.replace('/', '_')}-${sparkApplications.tag}`);
    await mkdir(folder, { recursive: true });
    await copyFile(join(SHARED_DIR, 'crds', sparkApplications.file), join(folder, sparkApplications.file));
    const data = await readThirdPartyCrd(sparkApplications, { sharedDir: join(cacheDir, 'no-shared-here'), cacheDir });
    expect(data.equals(await readFile(join(SHARED_DIR, 'crds', sparkApplications.file)))).toBe(true);
  });

  it.skipIf(!haveShared)('pins the same files and digests as ../shared/crds/SOURCES.md', async () => {
    const sources = await readFile(join(SHARED_DIR, 'crds', 'SOURCES.md'), 'utf8');
    for (const crd of THIRD_PARTY_CRDS) {
      expect(sources).toContain(`| ${crd.file} | ${crd.repository} | ${crd.path} | ${crd.tag} | ${crd.sha256} |`);
    }
  });

  it.skipIf(!haveShared)('keeps the generated SparkApplication status type as npm run import writes it from the pinned CRD', async () => {
    const written = await readFile(join(REPO_ROOT, STATUS_IMPORT), 'utf8');
    expect(written, `${STATUS_IMPORT} is stale: run \`npm run import\``).toBe(await renderSparkApplicationStatus());
  });
});
