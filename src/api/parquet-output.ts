import type { Manifest } from './manifest.ts';

/** orchard's API group and version (../shared/DESIGN.md). */
export const GROUP = 'orchard.fruits.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'ParquetOutput';
export const PLURAL = 'parquetoutputs';

/** Label on Spark job CRs that orchard records; its value names the job. */
export const JOB_LABEL = `${GROUP}/job`;
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
