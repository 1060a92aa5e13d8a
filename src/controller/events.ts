import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, statusMessage } from '../kube/raw.ts';
import type { Logger } from '../log.ts';
import type { SparkApplicationObject } from '../api/spark-application.ts';

export const EVENT_COMPONENT = 'orchard-controller';

export interface EventRecorder {
  record(app: SparkApplicationObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/**
 * Writes core/v1 Events on the SparkApplication, where `kubectl describe sparkapplication` shows
 * them next to the operator's own. An event is best effort: failing to write one never fails a
 * reconcile, it is only logged.
 */
export function eventRecorder(kc: KubeConfig, identity: string, log: Logger): EventRecorder {
  return {
    async record(app, type, reason, message) {
      const namespace = app.metadata.namespace ?? 'default';
      const now = new Date();
      const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
      const micro = now.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
      // client-go names events <object>.<unix nanoseconds in hex>, unique per emission.
      const name = `${app.metadata.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000))).toString(16)}`;
      const event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: app.apiVersion,
          kind: app.kind,
          name: app.metadata.name,
          namespace,
          uid: app.metadata.uid,
          resourceVersion: app.metadata.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: EVENT_COMPONENT },
        reportingComponent: `orchard.fruits.dev/controller`,
        reportingInstance: identity,
        action: 'Record',
        firstTimestamp: stamp,
        lastTimestamp: stamp,
        eventTime: micro,
        count: 1,
      };
      try {
        const response = await kubeRequest(kc, 'POST', `/api/v1/namespaces/${namespace}/events`, event);
        if (response.status >= 300) log.warn('event not recorded', { object: `${namespace}/${app.metadata.name}`, reason, status: response.status, error: statusMessage(response) });
      } catch (error) {
        log.warn('event not recorded', { object: `${namespace}/${app.metadata.name}`, reason, error: String(error) });
      }
    },
  };
}
