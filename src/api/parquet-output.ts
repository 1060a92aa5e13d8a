import type { Manifest } from './manifest.ts';

/** orchard's API group and version (../shared/DESIGN.md). */
export const GROUP = 'orchard.fruits.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ParquetOutput';
export const PLURAL = 'parquetoutputs';

/** Label on Spark job CRs that orchard records; its value names the job. */
export const JOB_LABEL = `${GROUP}/job`;
/**
 * JOB_LABEL as a Prometheus label, spelled as the PodMonitor's podTargetLabels spell it on the Spark
 * series, so that the controller's per-job series and the jobs' own match on the same label.
 */
export const JOB_SERIES_LABEL = JOB_LABEL.replace(/[^a-zA-Z0-9_]/g, '_');
/** Annotation on Spark job CRs: JSON list of the output URIs the job writes. */
export const OUTPUTS_ANNOTATION = `${GROUP}/outputs`;

export type Phase = 'Pending' | 'Recorded' | 'Incomplete' | 'Failed';
export const PHASES: readonly Phase[] = ['Pending', 'Recorded', 'Incomplete', 'Failed'];

export interface ParquetOutputSpec {
  readonly source: {
    readonly kind: 'SparkApplication' | 'ScheduledSparkApplication';
    readonly name: string;
    readonly uid: string;
    readonly submissionAttempt?: number;
  };
  /** Where the dataset lives: an s3a:// (or s3://) prefix holding Parquet files and `_SUCCESS`. */
  readonly uri: string;
}

export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

/** The classes with the lowest recall that a record keeps: the job measures 10, the record is read by people. */
export const WORST_CLASSES_RECORDED = 5;

/**
 * What the features are worth: a linear probe's accuracy at predicting each image's class folder on
 * images it was not fitted on (spark-images/orchard_featurize/probe.py). Either measured (`top1`,
 * `top5`, `worstClasses`) or `skipped` with the reason; `minTop1` is the quality gate the job was run with.
 */
export interface FeatureQuality {
  /** The classifier: `ridge` (closed form, on one-hot labels). */
  readonly method: string;
  /** How the held-out images are chosen, for example `sha1(<Class>/<file>), 20% held out`. */
  readonly split: string;
  /** The Parquet column probed (`pca` or `features`) and its width. */
  readonly features?: string;
  readonly width?: number;
  readonly classes?: number;
  readonly testImages?: number;
  /** Fractions of the held-out images whose class is the first, or among the first five, predicted. */
  readonly top1?: number;
  readonly top5?: number;
  /** The same probe on the full 2048 features, when the job was asked for it beside PCA. */
  readonly fullWidthTop1?: number;
  /** The gate: a lower top1 makes the record Incomplete (QualityBelowThreshold). */
  readonly minTop1?: number;
  /** Why the probe could not measure, when it could not. */
  readonly skipped?: string;
  /** Lowest recall first, each with the class its images are most often taken for. */
  readonly worstClasses?: readonly { readonly label: string; readonly recall: number; readonly images: number; readonly confusedWith?: string }[];
}

/**
 * Which dataset a run started from and what it reused, as the job wrote it in its metrics: an
 * incremental run names its parent and counts the images it kept, featurized and dropped.
 */
export interface Lineage {
  readonly mode: 'full' | 'incremental';
  /** The dataset the run started from; absent for a full run. */
  readonly parent?: string;
  /** Why the run was full or incremental, and which parent it chose. */
  readonly reason: string;
  readonly images: { readonly reused: number; readonly featurized: number; readonly removed: number };
  readonly pca: {
    readonly action: 'fitted' | 'reused' | 'refitted' | 'off';
    readonly reason: string;
    /** Variance the model explained of the rows it was fitted on, and of this run's new rows. */
    readonly explainedVarianceFitted?: number;
    readonly explainedVarianceNew?: number;
  };
}

/** What failed or interrupted writes left under the output, which `orchard gc` removes. */
export interface Leftovers {
  /** Multipart uploads under the output never completed or aborted: stored, billed, invisible. */
  readonly pendingUploads: number;
  /** When the oldest of them began. */
  readonly oldestUpload?: string;
  /** Objects under the magic committer's `__magic*` paths, which a successful commit deletes. */
  readonly partialObjects: number;
  readonly partialBytes: number;
}

export interface ParquetOutputStatus {
  readonly phase?: Phase;
  readonly files?: number;
  readonly rows?: number;
  readonly bytes?: number;
  readonly schema?: readonly { readonly name: string; readonly type: string }[];
  readonly committer?: string;
  readonly jobMetrics?: {
    readonly imagesFound?: number;
    readonly imagesDecoded?: number;
    readonly imagesFailed?: number;
    readonly labels?: Readonly<Record<string, number>>;
    readonly durationSeconds?: number;
    readonly imagesPerSecond?: number;
  };
  readonly featureQuality?: FeatureQuality;
  readonly lineage?: Lineage;
  /** Absent when nothing is left over. */
  readonly leftovers?: Leftovers;
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
}

export interface ParquetOutput {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof KIND;
  readonly metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string> };
  readonly spec: ParquetOutputSpec;
  readonly status?: ParquetOutputStatus;
}

const nonNegative = { type: 'integer', format: 'int64', minimum: 0 } as const;
const fraction = { type: 'number', minimum: 0, maximum: 1 } as const;

/** Kubernetes' metav1.Condition schema, as controller-gen renders it. */
const conditionSchema = {
  type: 'object',
  required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  properties: {
    type: { type: 'string', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
  },
} as const;

/** The one definition of the ParquetOutput CRD; cdk8s, the Helm chart and the tests render it. */
export function parquetOutputCrd(): Manifest {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'orchard', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      // `po` is the Pods' short name, which kubectl resolves first.
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'parquetoutput', shortNames: ['pqo'], categories: ['orchard'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'URI', type: 'string', jsonPath: '.spec.uri' },
            { name: 'Rows', type: 'integer', jsonPath: '.status.rows' },
            { name: 'Files', type: 'integer', jsonPath: '.status.files' },
            { name: 'Size', type: 'integer', jsonPath: '.status.bytes', description: 'bytes of Parquet data' },
            { name: 'Top-1', type: 'number', jsonPath: '.status.featureQuality.top1', description: 'linear-probe accuracy on held-out images', priority: 1 },
            { name: 'Mode', type: 'string', jsonPath: '.status.lineage.mode', description: 'full, or incremental from the parent dataset', priority: 1 },
            { name: 'Parent', type: 'string', jsonPath: '.status.lineage.parent', description: 'the dataset an incremental run started from', priority: 1 },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'One Parquet dataset that a Spark job wrote, as recorded by the orchard controller.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  required: ['source', 'uri'],
                  properties: {
                    source: {
                      type: 'object',
                      description: 'The Spark job that wrote the dataset.',
                      required: ['kind', 'name', 'uid'],
                      properties: {
                        kind: { type: 'string', enum: ['SparkApplication', 'ScheduledSparkApplication'] },
                        name: { type: 'string', minLength: 1, maxLength: 253 },
                        uid: { type: 'string', minLength: 1 },
                        submissionAttempt: { type: 'integer', format: 'int64', minimum: 0 },
                      },
                    },
                    uri: {
                      type: 'string',
                      description: 'The dataset prefix, for example s3a://bucket/features/run-1/.',
                      pattern: '^s3a?://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$',
                      maxLength: 2048,
                    },
                  },
                  // A retried job rewrites the same output, so only the submission attempt may move forward.
                  'x-kubernetes-validations': [
                    {
                      rule: 'self.uri == oldSelf.uri && self.source.kind == oldSelf.source.kind && self.source.name == oldSelf.source.name && self.source.uid == oldSelf.source.uid',
                      message: 'spec.uri and spec.source are immutable (only spec.source.submissionAttempt may change): a ParquetOutput records one output of one job',
                    },
                  ],
                },
                status: {
                  type: 'object',
                  properties: {
                    phase: { type: 'string', enum: [...PHASES] },
                    files: nonNegative,
                    rows: nonNegative,
                    bytes: nonNegative,
                    schema: {
                      type: 'array',
                      maxItems: 1024,
                      items: { type: 'object', required: ['name', 'type'], properties: { name: { type: 'string' }, type: { type: 'string' } } },
                    },
                    committer: { type: 'string', description: 'The S3A committer named by _SUCCESS (magic, directory, partitioned), or "classic" for an empty marker.' },
                    jobMetrics: {
                      type: 'object',
                      properties: {
                        imagesFound: nonNegative,
                        imagesDecoded: nonNegative,
                        imagesFailed: nonNegative,
                        labels: { type: 'object', additionalProperties: nonNegative },
                        durationSeconds: { type: 'number', minimum: 0 },
                        imagesPerSecond: { type: 'number', minimum: 0 },
                      },
                    },
                    featureQuality: {
                      type: 'object',
                      description: "A linear probe's accuracy at predicting the images' class folders from the features, on held-out images.",
                      required: ['method', 'split'],
                      properties: {
                        method: { type: 'string' },
                        split: { type: 'string' },
                        features: { type: 'string' },
                        width: nonNegative,
                        classes: nonNegative,
                        testImages: nonNegative,
                        top1: fraction,
                        top5: fraction,
                        fullWidthTop1: fraction,
                        minTop1: fraction,
                        skipped: { type: 'string' },
                        worstClasses: {
                          type: 'array',
                          maxItems: WORST_CLASSES_RECORDED,
                          items: {
                            type: 'object',
                            required: ['label', 'recall', 'images'],
                            properties: { label: { type: 'string' }, recall: fraction, images: nonNegative, confusedWith: { type: 'string' } },
                          },
                        },
                      },
                    },
                    lineage: {
                      type: 'object',
                      description: 'Which dataset the run started from (an incremental run) and what it reused, from the job metrics.',
                      required: ['mode', 'reason', 'images', 'pca'],
                      properties: {
                        mode: { type: 'string', enum: ['full', 'incremental'] },
                        parent: { type: 'string', description: 'The dataset the run started from.' },
                        reason: { type: 'string' },
                        images: {
                          type: 'object',
                          required: ['reused', 'featurized', 'removed'],
                          properties: { reused: nonNegative, featurized: nonNegative, removed: nonNegative },
                        },
                        pca: {
                          type: 'object',
                          required: ['action', 'reason'],
                          properties: {
                            // No enum: YAML 1.1 readers (kubectl, helm) take a bare `off` in a rendered enum for false.
                            action: { type: 'string', description: 'fitted, reused, refitted or off' },
                            reason: { type: 'string' },
                            explainedVarianceFitted: fraction,
                            explainedVarianceNew: fraction,
                          },
                        },
                      },
                    },
                    leftovers: {
                      type: 'object',
                      description: 'Pending multipart uploads and partial magic-committer objects under the output, which `orchard gc` removes.',
                      required: ['pendingUploads', 'partialObjects', 'partialBytes'],
                      properties: {
                        pendingUploads: nonNegative,
                        oldestUpload: { type: 'string', format: 'date-time' },
                        partialObjects: nonNegative,
                        partialBytes: nonNegative,
                      },
                    },
                    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
                    conditions: {
                      type: 'array',
                      items: conditionSchema,
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}
