import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { chartYaml, stageApp, writeApplications } from '../../cdk8s/app.ts';
import { JOBS_AUTOMATION, PLATFORM_AUTOMATION, type GitopsConfig } from '../../cdk8s/gitops.ts';
import { stageProblems, validStage, type StageConfig } from '../../cdk8s/stages.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { orchard } from '../support/cli.ts';
import { stack } from '../support/kube.ts';
import { STAGE_NAMES, testStage } from './stages.ts';

const run = promisify(execFile);

function kubectl(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return run(stack().kubectl, ['--kubeconfig', stack().kubeconfig, ...args]);
}

interface Application {
  metadata: { name: string; namespace: string; annotations: Record<string, string> };
  spec: {
    project: string;
    destination: { server: string; namespace: string };
    source: { repoURL: string; targetRevision: string; path: string; directory: { include: string; recurse: boolean } };
    syncPolicy: { automated?: { prune: boolean; selfHeal: boolean }; syncOptions: string[]; retry: { limit: number; backoff: { duration: string; factor: number; maxDuration: string } } };
  };
}

function applications(stage: StageConfig): Application[] {
  const { gitops } = stageApp(stage);
  if (!gitops) throw new Error(`stage ${stage.name} has no gitops section`);
  return Testing.synth(gitops) as Application[];
}

function byName(apps: readonly Application[], name: string): Application {
  const app = apps.find((a) => a.metadata.name === name);
  if (!app) throw new Error(`no Application ${name} among ${apps.map((a) => a.metadata.name).join(', ')}`);
  return app;
}

const wave = (object: { metadata: { annotations?: Record<string, string> } }): number => {
  const value = object.metadata.annotations?.['argocd.argoproj.io/sync-wave'];
  if (value === undefined) throw new Error(`no sync wave on ${JSON.stringify(object.metadata)}`);
  return Number(value);
};

/**
 * Built-in API groups, which Argo CD re-marshals through their Go types before diffing
 * (gitops-engine/pkg/diff/diff.go, remarshal). A zero value in Git that the API server does not
 * store (RoleBinding `subjects[].apiGroup: ""`, Deployment `minReadySeconds: 0`, NetworkPolicy `ports: []`) belongs to an
 * `omitempty` field, which the re-marshal drops from Git's side too: no diff.
 */
const BUILT_IN_GROUPS = new Set(['', 'apps', 'rbac.authorization.k8s.io', 'networking.k8s.io']);

/**
 * The JSON pointers of every field `desired` sets that `live` does not hold with the same value: the
 * fields Argo CD would show as OutOfSync. Fields only `live` has (server defaults) are not drift.
 */
function drift(desired: unknown, live: unknown, builtIn: boolean, path = ''): string[] {
  if (builtIn && live === undefined && isZero(desired)) return [];
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return [path];
    return desired.flatMap((item, i) => drift(item, live[i], builtIn, `${path}/${i}`));
  }
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return [path];
    return Object.entries(desired).flatMap(([key, value]) => drift(value, (live as Record<string, unknown>)[key], builtIn, `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`));
  }
  return desired === live ? [] : [path];
}

function isZero(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length === 0;
  return value === '' || value === 0 || value === false;
}

const groupOf = (object: Manifest): string => (object.apiVersion.includes('/') ? object.apiVersion.split('/')[0]! : '');

const prod = () => testStage('prod');
const withGitops = (gitops: Partial<GitopsConfig>): StageConfig => ({ ...prod(), gitops: { ...prod().gitops!, ...gitops } });

describe('the prod stage\'s Argo CD Applications', () => {
  it('render as in the snapshot', () => {
    expect(applications(prod())).toMatchSnapshot();
  });

  it('are a root app of apps, the platform and the jobs, all in the argocd namespace and project default', () => {
    const apps = applications(prod());
    expect(apps.map((a) => a.metadata.name)).toEqual(['orchard-prod', 'orchard-prod-platform', 'orchard-prod-jobs']);
    for (const app of apps) {
      expect(app.metadata.namespace).toBe('argocd');
      expect(app.spec.project).toBe('default');
      expect(app.spec.destination.server).toBe('https://kubernetes.default.svc');
      expect(app.spec.source).toMatchObject({ repoURL: 'https://github.com/fruits/orchard.git', targetRevision: 'deploy' });
      // The platform chart creates the restricted namespace itself.
      expect(app.spec.syncPolicy.syncOptions).not.toContain('CreateNamespace=true');
    }
  });

  it('split the stage folder between platform and jobs, and the root syncs the Applications\' own file', () => {
    const apps = applications(prod());
    expect(byName(apps, 'orchard-prod').spec.source).toMatchObject({ path: 'dist/argocd', directory: { include: 'prod-applications.yaml', recurse: false } });
    expect(byName(apps, 'orchard-prod').spec.destination.namespace).toBe('argocd');
    expect(byName(apps, 'orchard-prod-platform').spec.source).toMatchObject({ path: 'dist/prod', directory: { include: '{00-crds.yaml,10-platform.yaml}' } });
    expect(byName(apps, 'orchard-prod-jobs').spec.source).toMatchObject({ path: 'dist/prod', directory: { include: '20-featurize.yaml' } });
    for (const name of ['orchard-prod-platform', 'orchard-prod-jobs']) expect(byName(apps, name).spec.destination.namespace).toBe('orchard');
    // Every stage file is synced by exactly one Application.
    const included = apps.slice(1).flatMap((a) => a.spec.source.directory.include.replace(/[{}]/g, '').split(','));
    expect(included.sort()).toEqual(stageApp(prod()).files.map(({ file }) => file).sort());
  });

  it('put the root first, then the platform, then the jobs that need its namespace, service account and CRD', () => {
    const apps = applications(prod());
    expect(apps.map(wave)).toEqual([-1, 0, 1]);
  });

  it('prune and self-heal the platform, sync the jobs automatically without either, and retry with backoff', () => {
    const apps = applications(prod());
    expect(byName(apps, 'orchard-prod-platform').spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(byName(apps, 'orchard-prod-jobs').spec.syncPolicy.automated).toEqual({ prune: false, selfHeal: false });
    for (const app of apps) expect(app.spec.syncPolicy.retry).toEqual({ limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '3m' } });
  });

  it('follow the stage\'s gitops section: project, revision, path and manual sync', () => {
    const apps = applications(withGitops({ project: 'orchard', targetRevision: 'v1.2.0', path: '.', jobs: { automated: false, prune: false, selfHeal: false } }));
    expect(new Set(apps.map((a) => a.spec.project))).toEqual(new Set(['orchard']));
    expect(byName(apps, 'orchard-prod-platform').spec.source).toMatchObject({ targetRevision: 'v1.2.0', path: 'prod' });
    expect(byName(apps, 'orchard-prod').spec.source.path).toBe('argocd');
    expect(byName(apps, 'orchard-prod-jobs').spec.syncPolicy).not.toHaveProperty('automated');
  });
});

describe.each(STAGE_NAMES)('sync waves of stage %s', (name) => {
  const objects = () => stageApp(testStage(name)).files.flatMap(({ chart }) => Testing.synth(chart) as Manifest[]);

  it('are on every object', () => {
    for (const object of objects()) expect(() => wave(object), `${object.kind} ${object.metadata.name}`).not.toThrow();
  });

  it('put every CRD before every other object, and before every object of its kind', () => {
    const all = objects();
    const crds = all.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((o) => o.metadata.name)).toContain('parquetoutputs.orchard.fruits.dev');
    for (const crd of crds) {
      const kind = (crd.spec as { names: { kind: string } }).names.kind;
      for (const object of all.filter((o) => o.kind !== 'CustomResourceDefinition')) expect(wave(crd), `${crd.metadata.name} before ${object.kind}`).toBeLessThan(wave(object));
      for (const object of all.filter((o) => o.kind === kind)) expect(wave(crd)).toBeLessThan(wave(object));
    }
  });

  it('put the namespace before everything in it, and service accounts, RBAC and network policies before the Deployment', () => {
    const all = objects();
    const namespace = all.find((o) => o.kind === 'Namespace')!;
    for (const object of all.filter((o) => o.metadata.namespace)) expect(wave(namespace), object.kind).toBeLessThan(wave(object));
    const deployment = all.find((o) => o.kind === 'Deployment')!;
    const guards = all.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy'].includes(o.kind));
    expect(new Set(guards.map((o) => o.kind))).toEqual(new Set(['ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy']));
    for (const guard of guards) expect(wave(guard), `${guard.kind} ${guard.metadata.name}`).toBeLessThan(wave(deployment));
  });

  it('apply CRDs server-side and never prune or delete the CRD or the namespace', () => {
    for (const object of objects()) {
      const options = object.metadata.annotations?.['argocd.argoproj.io/sync-options']?.split(',') ?? [];
      if (object.kind === 'CustomResourceDefinition') expect(options).toEqual(['ServerSideApply=true', 'Prune=false', 'Delete=false']);
      else if (object.kind === 'Namespace') expect(options).toEqual(['Prune=false', 'Delete=false']);
      else expect(options, object.kind).toEqual([]);
    }
  });
});

describe('gitops config', () => {
  it('names every wrong field and what to do', () => {
    const broken = withGitops({
      repoUrl: 'github.com/fruits/orchard',
      targetRevision: 'HEAD',
      path: '../dist',
      project: 'Orchard',
      platform: { automated: false, prune: true, selfHeal: true },
    });
    expect(stageProblems(broken)).toEqual([
      'stage prod: gitops.repoUrl "github.com/fruits/orchard" is not a Git repository URL: use https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git',
      'stage prod: gitops.targetRevision "HEAD" is not a branch, tag or commit: name the deploy branch CI commits the rendered manifests to, for example deploy',
      'stage prod: gitops.path "../dist" must be a relative folder inside the repository without . or .. parts (or "." for its root), for example dist',
      'stage prod: gitops.project "Orchard" is not an Argo CD AppProject name (a DNS-1123 label)',
      'stage prod: gitops.platform sets prune and selfHeal without automated: Argo CD applies them only to automated syncs; set automated: true or drop them',
    ]);
    expect(() => validStage(broken)).toThrow('stage prod: gitops.repoUrl');
  });

  it('refuses credentials in the repository URL without echoing them', () => {
    const [problem] = stageProblems(withGitops({ repoUrl: 'https://bot:ghp_secret@github.com/fruits/orchard.git' }));
    expect(problem).toBe('stage prod: gitops.repoUrl "https://***@github.com/fruits/orchard.git" holds credentials: remove them and give Argo CD a repository Secret instead');
  });

  it('refuses plain http', () => {
    expect(stageProblems(withGitops({ repoUrl: 'http://git.internal/fruits/orchard.git' }))).toEqual([
      'stage prod: gitops.repoUrl "http://git.internal/fruits/orchard.git" uses plain http: what Argo CD deploys could be altered on the way; use https:// or ssh://',
    ]);
  });

  it('accepts https, ssh and scp-like URLs, and branch, tag and commit revisions', () => {
    for (const repoUrl of ['https://github.com/fruits/orchard', 'ssh://git@github.com/fruits/orchard.git', 'git@github.com:fruits/orchard.git']) {
      for (const targetRevision of ['deploy', 'deploy/prod', 'v1.2.0', '5619b6e1c0ffee5619b6e1c0ffee5619b6e1c0ff']) {
        expect(stageProblems(withGitops({ repoUrl, targetRevision })), `${repoUrl} @ ${targetRevision}`).toEqual([]);
      }
    }
    for (const targetRevision of ['deploy branch', 'deploy..prod', 'deploy/', '-deploy', 'deploy.lock']) {
      expect(stageProblems(withGitops({ targetRevision })), targetRevision).toHaveLength(1);
    }
  });

  it('refuses gitops on a stage whose manifests hold static S3 keys', () => {
    const dev = { ...testStage('dev'), gitops: { ...prod().gitops! } };
    expect(stageProblems(dev)).toEqual([
      'stage dev: gitops is set on a stage with static S3 keys: its manifests would commit the keys to https://github.com/fruits/orchard.git; deploy it with kubectl apply',
    ]);
  });

  it('defaults the jobs to automated sync without prune or self-heal, the platform to both', () => {
    expect(PLATFORM_AUTOMATION).toEqual({ automated: true, prune: true, selfHeal: true });
    expect(JOBS_AUTOMATION).toEqual({ automated: true, prune: false, selfHeal: false });
  });
});

describe('orchard synth', () => {
  it('writes the Applications beside the stage folder, as synthesized', async () => {
    const out = await mkdtemp(join(tmpdir(), 'orchard-gitops-synth-'));
    const result = await orchard('synth', '--stage', 'prod', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toContain(join(out, 'argocd', 'prod-applications.yaml'));
    const written = await readFile(join(out, 'argocd', 'prod-applications.yaml'), 'utf8');
    expect(written).toBe(chartYaml(stageApp(prod()).gitops!));
    expect(parseAllDocuments(written).map((doc) => (doc.toJS() as Manifest).kind)).toEqual(['Application', 'Application', 'Application']);
  });

  it('removes a stale Applications file of a stage that has no gitops section', async () => {
    const out = await mkdtemp(join(tmpdir(), 'orchard-gitops-stale-'));
    await mkdir(join(out, 'argocd'), { recursive: true });
    await writeFile(join(out, 'argocd', 'dev-applications.yaml'), 'stale');
    expect(await writeApplications(testStage('dev'), out)).toBeUndefined();
    await expect(stat(join(out, 'argocd', 'dev-applications.yaml'))).rejects.toThrow('ENOENT');
  });
});

describe('against the dev stack\'s kube-apiserver', () => {
  it('accepts the Applications with kubectl apply --dry-run=server in a real argocd namespace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orchard-gitops-'));
    await writeFile(join(dir, 'namespace.yaml'), stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'argocd' } }));
    await kubectl(['apply', '-f', join(dir, 'namespace.yaml')]);
    expect(parse((await kubectl(['get', 'namespace', 'argocd', '-o', 'yaml'])).stdout).status.phase).toBe('Active');

    await writeFile(join(dir, 'applications.yaml'), chartYaml(stageApp(prod()).gitops!));
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', join(dir, 'applications.yaml')]);
    expect(stdout.trim().split('\n')).toEqual([
      'application.argoproj.io/orchard-prod created (server dry run)',
      'application.argoproj.io/orchard-prod-platform created (server dry run)',
      'application.argoproj.io/orchard-prod-jobs created (server dry run)',
    ]);
  });

  it('stores the Applications as written: the Application CRD\'s schema prunes or changes none of their fields', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orchard-gitops-stored-'));
    await writeFile(join(dir, 'namespace.yaml'), stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'argocd' } }));
    await kubectl(['apply', '-f', join(dir, 'namespace.yaml')]);
    // A stage of its own, so the names cannot meet another test's Applications.
    const stage = { ...prod(), name: `stored${Date.now().toString(36)}` };
    const desired = applications(stage);
    await writeFile(join(dir, 'applications.yaml'), chartYaml(stageApp(stage).gitops!));
    try {
      await kubectl(['apply', '-f', join(dir, 'applications.yaml')]);
      const live = JSON.parse((await kubectl(['get', '-f', join(dir, 'applications.yaml'), '-o', 'json'])).stdout) as { items: Manifest[] };
      expect(live.items.map((o) => o.metadata.name)).toEqual(desired.map((o) => o.metadata.name));
      desired.forEach((app, i) => expect(drift(app, live.items[i], false), app.metadata.name).toEqual([]));
    } finally {
      await kubectl(['delete', '-f', join(dir, 'applications.yaml'), '--ignore-not-found']);
    }
  });

  it.each(STAGE_NAMES)('reads back every field stage %s sets, after a real apply: no field for ignoreDifferences', async (name) => {
    const namespace = `gitops-${name}-${Date.now().toString(36)}`;
    const { files } = stageApp({ ...testStage(name), namespace });
    const dir = await mkdtemp(join(tmpdir(), `orchard-gitops-drift-${name}-`));
    try {
      for (const { file, chart } of files) {
        await writeFile(join(dir, file), chartYaml(chart));
        // As Argo CD applies them: CRDs server-side (their sync option), the rest client-side.
        const serverSide = file === '00-crds.yaml' ? ['--server-side', '--force-conflicts', '--field-manager', 'argocd-controller'] : [];
        await kubectl(['apply', ...serverSide, '-f', join(dir, file)]);
      }
      for (const { file, chart } of files) {
        const live = JSON.parse((await kubectl(['get', '-f', join(dir, file), '-o', 'json'])).stdout) as { items?: Manifest[] } & Manifest;
        const items = live.items ?? [live];
        const desired = chart.toJson() as Manifest[];
        expect(items.map((o) => `${o.kind}/${o.metadata.name}`), file).toEqual(desired.map((o) => `${o.kind}/${o.metadata.name}`));
        desired.forEach((object, i) => expect(drift(object, items[i], BUILT_IN_GROUPS.has(groupOf(object))), `${file}: ${object.kind} ${object.metadata.name}`).toEqual([]));
      }
    } finally {
      await kubectl(['delete', 'namespace', namespace, '--wait=false', '--ignore-not-found']);
    }
  });

  it('refuses an Application whose retry backoff is not a number, so the schema really checks them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orchard-gitops-bad-'));
    const [root] = Testing.synth(stageApp(prod()).gitops!) as Application[];
    const bad = { ...root!, spec: { ...root!.spec, syncPolicy: { ...root!.spec.syncPolicy, retry: { limit: 'five' } } } };
    await writeFile(join(dir, 'bad.yaml'), stringify(bad));
    await expect(kubectl(['apply', '--dry-run=server', '-f', join(dir, 'bad.yaml')])).rejects.toThrow(/spec\.syncPolicy\.retry\.limit/);
  });
});
