import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { platformLabels } from './labels.ts';

/** The Secret's name, which the controller's Deployment (and the Helm chart's `s3.credentialsSecret`) refers to. */
export const S3_CREDENTIALS_SECRET = 'orchard-s3-credentials';

export interface S3CredentialsProps {
  readonly namespace: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * The keys of a non-AWS S3 server (a stage with `s3`, such as the local stack's throwaway keys) for
 * the controller's pods, as a Secret. On AWS there is none: IRSA gives the pods their credentials.
 * `data`, not `stringData`: the API server reads back what was applied, so Argo CD sees no drift.
 */
export class S3Credentials extends Construct {
  readonly name = S3_CREDENTIALS_SECRET;

  constructor(scope: Construct, id: string, props: S3CredentialsProps) {
    super(scope, id);
    const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    new ApiObject(this, 'secret', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: this.name, namespace: props.namespace, labels: platformLabels('s3-credentials') },
      type: 'Opaque',
      data: { AWS_ACCESS_KEY_ID: base64(props.accessKeyId), AWS_SECRET_ACCESS_KEY: base64(props.secretAccessKey) },
    });
  }
}
