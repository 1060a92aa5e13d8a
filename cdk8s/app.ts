import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { App, type Chart } from 'cdk8s';
import { stringify } from 'yaml';
import type { Manifest } from '../src/api/manifest.ts';
import { CrdsChart } from './charts/crds-chart.ts';
import { FeaturizeChart } from './charts/featurize-chart.ts';
import { GitopsChart } from './charts/gitops-chart.ts';
import { PlatformChart } from './charts/platform-chart.ts';
import { ARGOCD_DIR, type StageApplication } from './gitops.ts';
import type { StageConfig } from './stages.ts';
import { annotateForArgoCd } from './sync-waves.ts';

export interface ChartFile {
  /** Numbered so that `kubectl apply -f dist/<stage>/` applies them in order: CRDs, namespace and RBAC, jobs. */
  readonly file: string;
  readonly chart: Chart;
  /** The Argo CD Application that syncs the file. */
  readonly application: StageApplication;
}

export interface StageApp {
  readonly crds: CrdsChart;
  readonly platform: PlatformChart;
  readonly featurize: FeaturizeChart;
  /** The charts in apply order, one per output file. */
  readonly files: readonly ChartFile[];
  /** The stage's Argo CD Applications, when it has a gitops section. */
  readonly gitops?: GitopsChart;
}

export function applicationsFile(stage: StageConfig): string {
  return `${stage.name}-applications.yaml`;
}

export function stageApp(stage: StageConfig): StageApp {
  const app = new App();
  const crds = new CrdsChart(app, 'crds');
  const platform = new PlatformChart(app, 'platform', stage);
  const featurize = new FeaturizeChart(app, 'featurize', stage, platform.jobServiceAccount);
  const files: ChartFile[] = [
    { file: '00-crds.yaml', chart: crds, application: 'platform' },
    { file: '10-platform.yaml', chart: platform, application: 'platform' },
    { file: '20-featurize.yaml', chart: featurize, application: 'jobs' },
  ];
  for (const { chart } of files) annotateForArgoCd(chart);
  const filesOf = (application: StageApplication) => files.filter((file) => file.application === application).map(({ file }) => file);
  const gitops = stage.gitops
    ? new GitopsChart(app, 'gitops', { stage, gitops: stage.gitops, files: { platform: filesOf('platform'), jobs: filesOf('jobs') }, applicationsFile: applicationsFile(stage) })
    : undefined;
  return { crds, platform, featurize, files, ...(gitops ? { gitops } : {}) };
}

/** One chart as YAML: keys sorted and no line folding, so the same config gives the same bytes. */
export function chartYaml(chart: Chart): string {
  const objects = chart.toJson() as Manifest[];
  return objects.map((object) => stringify(object, { sortMapEntries: true, lineWidth: 0 })).join('---\n');
}

/** Every file of the stage, by name. */
export function synthStage(stage: StageConfig): Map<string, string> {
  return new Map(stageApp(stage).files.map(({ file, chart }) => [file, chartYaml(chart)]));
}

/**
 * Writes the stage into `<outDir>/<stage>/`, replacing the folder so that a chart that was removed
 * leaves no stale file behind. Returns the paths written.
 */
export async function writeStage(stage: StageConfig, outDir: string): Promise<string[]> {
  const dir = join(outDir, stage.name);
  const files = synthStage(stage);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, text] of files) {
    await writeFile(join(dir, file), text);
    written.push(join(dir, file));
  }
  return written;
}

/**
 * Writes the stage's Applications into `<outDir>/argocd/<stage>-applications.yaml`, or removes a
 * stale file when the stage has no gitops section. Returns the path written, if any.
 */
export async function writeApplications(stage: StageConfig, outDir: string): Promise<string | undefined> {
  const file = join(outDir, ARGOCD_DIR, applicationsFile(stage));
  const { gitops } = stageApp(stage);
  if (!gitops) {
    await rm(file, { force: true });
    return undefined;
  }
  await mkdir(join(outDir, ARGOCD_DIR), { recursive: true });
  await writeFile(file, chartYaml(gitops));
  return file;
}
