/**
 * orchard's layers, bottom to top; a module may import its own layer and the layers its rule
 * allows, never one above it. `npm test` runs this check (scripts/test.ts, lint stage), and
 * test/layers.test.ts plants a forbidden edge to prove that it fails.
 *
 *   base        src/errors, log, paths, format; src/api (wire types and contracts)
 *   io          src/kube (raw requests, informer, queue, lease), src/s3, src/parquet
 *   manifests   cdk8s/ (props, stages, constructs, charts, imports), src/spark (the SparkApplication builder), src/argocd
 *   controller  src/controller          report   src/report          jobs   src/jobs (submit and wait)
 *   dev         src/dev (the local stack)
 *   demo        src/demo
 *   cli         src/cli, and the entry points: bin/, scripts/, cdk8s/import.ts, print-spark-conf.ts, helm/main.ts
 *   test        test/
 */
const ENTRY = '^(bin/|scripts/|cdk8s/(import|print-spark-conf)\\.ts$|cdk8s/helm/main\\.ts$)';
const LAYERS = {
  base: '^src/((errors|log|paths|format)\\.ts$|api/)',
  io: '^src/(kube|s3|parquet)/',
  manifests: '^(cdk8s/(?!(import|print-spark-conf)\\.ts$|helm/main\\.ts$)|src/(spark|argocd)/)',
  controller: '^src/controller/',
  report: '^src/report/',
  jobs: '^src/jobs/',
  dev: '^src/dev/',
  demo: '^src/demo/',
  cli: `^src/cli/|${ENTRY}`,
};
const ALLOWED = {
  base: ['base'],
  io: ['base', 'io'],
  manifests: ['base', 'io', 'manifests'],
  controller: ['base', 'io', 'controller'],
  report: ['base', 'io', 'report'],
  jobs: ['base', 'io', 'jobs'],
  dev: ['base', 'io', 'manifests', 'dev'],
  demo: ['base', 'io', 'manifests', 'controller', 'report', 'jobs', 'dev', 'demo'],
  cli: ['base', 'io', 'manifests', 'controller', 'report', 'jobs', 'dev', 'demo', 'cli'],
};
const PROJECT = '^(src|cdk8s|scripts|bin|test)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one: split out what both need, into a lower layer.',
      from: { path: PROJECT },
      to: { circular: true },
    },
    {
      name: 'no-test-from-product',
      severity: 'error',
      comment: 'Product code never imports test code; a helper that both need moves into src/.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    ...Object.entries(ALLOWED).map(([layer, allowed]) => ({
      name: `layer-${layer}`,
      severity: 'error',
      comment: `${layer} may import only ${allowed.join(', ')}: a module two layers need moves down, never sideways.`,
      from: { path: LAYERS[layer] },
      to: { path: PROJECT, pathNot: [...allowed.map((name) => LAYERS[name]), '^test/'] },
    })),
  ],
  options: {
    // The generated CRD types are large and import only cdk8s: record edges into them, do not parse them.
    doNotFollow: { path: ['node_modules', '^cdk8s/imports/'] },
    exclude: { path: '^node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
