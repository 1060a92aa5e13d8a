/**
 * `orchard gc`'s edges: read the records of a namespace and what S3 holds under each finished one
 * (planGc decides), then abort and delete what the plan names.
 */
import { AbortMultipartUploadCommand, DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, PLURAL, type ParquetOutput } from '../api/parquet-output.ts';
import { parseS3Uri } from '../api/s3-uri.ts';
import { sparkApplicationsPath } from '../api/spark-application.ts';
import { OrchardError } from '../errors.ts';
import { kubeRequest, statusMessage } from '../kube/raw.ts';
import { OutputReads } from '../s3/output-reads.ts';
import type { GcPlan, PrefixContents } from './gc-plan.ts';

/** S3's limit on keys per DeleteObjects request. */
const DELETE_BATCH = 1000;

/** The ParquetOutputs of a namespace, optionally by label selector. */
export async function listRecords(kc: KubeConfig, namespace: string, selector?: string): Promise<ParquetOutput[]> {
  const query = selector ? `?${new URLSearchParams({ labelSelector: selector })}` : '';
  const response = await kubeRequest(kc, 'GET', `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}${query}`);
  if (response.status !== 200) throw new OrchardError(`listing ParquetOutputs in ${namespace} answered ${response.status}: ${statusMessage(response)}`, 'check your access with `kubectl auth can-i list parquetoutputs`');
  return (JSON.parse(response.body) as { items: ParquetOutput[] }).items;
}

/** Pending uploads and objects under the prefix of every finished record (a running job's prefix is not read). */
export async function readPrefixes(s3: S3Client, records: readonly ParquetOutput[]): Promise<Map<string, PrefixContents>> {
  const contents = new Map<string, PrefixContents>();
  const finished = records.filter((o) => o.status?.phase && o.status.phase !== 'Pending').map((o) => o.spec.uri);
  for (const uri of new Set(finished)) {
    const { bucket, prefix } = parseS3Uri(uri);
    const io = new OutputReads(s3, uri, bucket, undefined);
    const [uploads, objects] = await Promise.all([io.uploads(prefix), io.list(prefix)]);
    contents.set(uri, { uploads, objects });
  }
  return contents;
}

/** Carries out the plan: aborts uploads, deletes partial objects, then each expired dataset's objects, its job and its record. */
export async function applyGc(s3: S3Client, kc: KubeConfig, plan: GcPlan): Promise<void> {
  for (const upload of plan.uploads) {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: upload.uploadId }));
  }
  await deleteKeys(s3, plan.partialObjects);
  for (const dataset of plan.datasets) {
    await deleteKeys(s3, dataset.objects.map((o) => ({ ...o, bucket: dataset.bucket })));
    const { namespace, name } = dataset.record.metadata;
    const { source } = dataset.record.spec;
    // The job goes with its dataset: a SparkApplication left behind would be recorded again, as an
    // output with no _SUCCESS. The uid precondition spares a job re-created under the same name.
    const deletions = [
      { what: `SparkApplication ${namespace}/${source.name}`, path: `${sparkApplicationsPath(namespace)}/${source.name}`, body: { preconditions: { uid: source.uid } } },
      { what: `ParquetOutput ${namespace}/${name}`, path: `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}/${name}`, body: undefined },
    ];
    for (const { what, path, body } of deletions) {
      const response = await kubeRequest(kc, 'DELETE', path, body);
      if (response.status !== 200 && response.status !== 202 && response.status !== 404 && response.status !== 409) {
        throw new OrchardError(`deleting ${what} answered ${response.status}: ${statusMessage(response)}`, `its dataset under ${dataset.record.spec.uri} is deleted; delete ${what} with kubectl`);
      }
    }
  }
}

async function deleteKeys(s3: S3Client, objects: readonly { bucket: string; key: string }[]): Promise<void> {
  for (const bucket of new Set(objects.map((o) => o.bucket))) {
    const list = objects.filter((o) => o.bucket === bucket);
    for (let start = 0; start < list.length; start += DELETE_BATCH) {
      const batch = list.slice(start, start + DELETE_BATCH);
      const result = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((o) => ({ Key: o.key })), Quiet: true } }));
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        throw new OrchardError(`${failed.length} objects in bucket ${bucket} were not deleted, first ${failed[0]!.Key}: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`, 'check the S3 permissions (s3:DeleteObject) and run gc again');
      }
    }
  }
}
