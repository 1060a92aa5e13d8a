import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, HELM_ONLY_LABELS, MANAGED_BY } from '../../cdk8s/helm/chart.ts';
import { defaultValues, type ChartValues } from '../../cdk8s/helm/values.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { REPO_ROOT } from '../../src/paths.ts';

const run = promisify(execFile);

export const CHART = join(REPO_ROOT, CHART_DIR);

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** One helm command with its own config, cache and data folders, so no user's repositories or plugins take part. */
export async function helm(binary: string, args: readonly string[]): Promise<Result> {
  const home = await mkdtemp(join(tmpdir(), 'orchard-helm-home-'));
  const env = { ...process.env, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') };
  try {
    const { stdout, stderr } = await run(binary, args, { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** A values file for `-f`: JSON is YAML, and keeps strings strings where `--set` would guess types. */
export async function valuesFile(values: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orchard-helm-values-'));
  const file = join(dir, 'values.yaml');
  await writeFile(file, JSON.stringify(values));
  return file;
}

export function documents(text: string): Manifest[] {
  return parseAllDocuments(text).map((doc) => doc.toJS() as Manifest | null).filter((doc): doc is Manifest => doc !== null);
}

/** `helm template` of charts/orchard; throws with helm's stderr when it fails. */
export async function template(binary: string, values: unknown, namespace: string, extra: readonly string[] = []): Promise<Manifest[]> {
  const result = await helm(binary, ['template', 'orchard', CHART, '--namespace', namespace, '-f', await valuesFile(values), ...extra]);
  if (result.code !== 0) throw new Error(`helm template failed (exit ${result.code}): ${result.stderr}`);
  return documents(result.stdout);
}

/** The defaults with some values replaced, group by group. */
export function valuesWith(overrides: { readonly [K in keyof ChartValues]?: Partial<ChartValues[K]> | ChartValues[K] }): ChartValues {
  const values = defaultValues() as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    values[key] = typeof value === 'object' && value !== null ? { ...(values[key] as object), ...value } : value;
  }
  return values as unknown as ChartValues;
}

/**
 * The objects with the labels that differ by design removed: Helm's release labels, and
 * managed-by (cdk8s in one, Helm in the other). Sorted by kind, so order does not count.
 */
export function comparable(objects: readonly Manifest[]): Manifest[] {
  const strip = (labels: Readonly<Record<string, string>> | undefined) => {
    if (!labels) return labels;
    const rest = { ...labels };
    for (const key of [...HELM_ONLY_LABELS, MANAGED_BY]) delete rest[key];
    return rest;
  };
  return objects
    .map((object) => {
      type Labelled = { labels?: Readonly<Record<string, string>> };
      const copy = structuredClone(object) as Manifest & { metadata: Labelled; spec?: { template?: { metadata?: Labelled } } };
      copy.metadata.labels = strip(copy.metadata.labels);
      if (copy.spec?.template?.metadata) copy.spec.template.metadata.labels = strip(copy.spec.template.metadata.labels);
      return copy;
    })
    .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
}
