import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, statusMessage } from './raw.ts';
import type { KubeObject } from '../api/manifest.ts';
import type { Logger } from '../log.ts';

export type InformerEvent<T extends KubeObject> =
  | { readonly type: 'add'; readonly key: string; readonly object: T }
  | { readonly type: 'update'; readonly key: string; readonly object: T; readonly old: T }
  | { readonly type: 'delete'; readonly key: string; readonly object: T }
  /** A periodic re-list re-delivers every object, so a missed or failed reconcile gets another chance. */
  | { readonly type: 'resync'; readonly key: string; readonly object: T };

export interface InformerObserver {
  /** Why the watch was (re)started: `start`, `expired` (410), `closed`, `error`, `stale`, `resync`. */
  restarted(reason: string): void;
  event(): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  readonly kc: KubeConfig;
  /** Collection path, e.g. /apis/sparkoperator.k8s.io/v1beta2/namespaces/jobs/sparkapplications. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly log: Logger;
  /**
   * Full re-list period. Watches can miss nothing in theory; a re-list repairs a cache that went
   * wrong in practice (a bug, an event lost in a proxy) and re-delivers objects to the handler.
   */
  readonly resyncMs?: number;
  /** Server-side watch timeout; the server ends the watch cleanly and it is resumed from the last resourceVersion. */
  readonly watchTimeoutSeconds?: number;
  /**
   * No byte for this long means the connection is half-open (a NAT or load balancer dropped it
   * without a FIN): abort and re-list. Bookmarks (requested) arrive about once a minute.
   */
  readonly staleAfterMs?: number;
  /** Restart backoff after an error: doubles from the initial delay up to the cap, reset by a healthy watch. */
  readonly backoffInitialMs?: number;
  readonly backoffCapMs?: number;
  readonly pageSize?: number;
  readonly observer?: InformerObserver;
  /**
   * Applied to every object before it is cached (client-go's SetTransform): a cache of thousands
   * of objects holds only the fields its handlers read. It must keep metadata's name, namespace,
   * uid and resourceVersion.
   */
  readonly transform?: (object: T) => T;
}

export const INFORMER_DEFAULTS = {
  resyncMs: 10 * 60_000,
  watchTimeoutSeconds: 5 * 60,
  staleAfterMs: 3 * 60_000,
  backoffInitialMs: 1_000,
  backoffCapMs: 30_000,
  pageSize: 500,
} as const;

export function objectKey(object: KubeObject): string {
  return object.metadata.namespace ? `${object.metadata.namespace}/${object.metadata.name}` : object.metadata.name;
}

class WatchEnded extends Error {
  constructor(
    readonly reason: 'expired' | 'closed' | 'error' | 'stale' | 'resync',
    message: string,
  ) {
    super(message);
  }
}

/**
 * List + watch with a cache keyed by namespace/name, which owns what client-node's informer leaves
 * out: it restarts after any error with capped backoff, re-lists when the watch goes quiet for too
 * long or the resourceVersion expires, re-lists periodically, and compares `metadata.uid`, so a
 * delete and re-create while disconnected is delivered as a delete and an add, not an update.
 */
export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly options: Required<Omit<InformerOptions<T>, 'labelSelector' | 'observer' | 'transform'>> & Pick<InformerOptions<T>, 'labelSelector' | 'observer' | 'transform'>;
  private synced = false;
  private lastActivity = Date.now();

  constructor(
    options: InformerOptions<T>,
    private readonly handler: (event: InformerEvent<T>) => void,
  ) {
    this.options = { ...INFORMER_DEFAULTS, ...options };
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Milliseconds since the last list, watch event or bookmark. */
  idleMs(): number {
    return Date.now() - this.lastActivity;
  }

  /** Runs until `signal` aborts. Never throws: every failure is logged and retried. */
  async run(signal: AbortSignal): Promise<void> {
    const { log, backoffInitialMs, backoffCapMs } = this.options;
    let delay = backoffInitialMs;
    let reason = 'start';
    while (!signal.aborted) {
      this.options.observer?.restarted(reason);
      let resourceVersion: string;
      try {
        resourceVersion = await this.relist();
      } catch (error) {
        log.warn('list failed; retrying', { path: this.options.path, error: String(error), retryInMs: delay });
        await sleep(delay, signal);
        delay = Math.min(backoffCapMs, delay * 2);
        reason = 'error';
        continue;
      }
      const resyncAt = Date.now() + jittered(this.options.resyncMs);
      // Watch from the list's resourceVersion until the watch breaks in a way that needs a re-list.
      for (;;) {
        if (signal.aborted) return;
        const started = Date.now();
        let ended: WatchEnded;
        try {
          ended = await this.watchOnce(resourceVersion, signal, resyncAt, (rv) => (resourceVersion = rv));
        } catch (error) {
          ended = new WatchEnded('error', String(error));
        }
        if (signal.aborted) return;
        // A watch that lasted a while was healthy: the next failure starts the backoff again.
        if (Date.now() - started > 10_000) delay = backoffInitialMs;
        if (ended.reason === 'closed') {
          log.debug('watch closed by the server; resuming', { path: this.options.path, resourceVersion });
          this.options.observer?.restarted('closed');
          continue;
        }
        if (ended.reason === 'error') {
          log.warn('watch failed; resuming after backoff', { path: this.options.path, error: ended.message, retryInMs: delay });
          await sleep(delay, signal);
          delay = Math.min(backoffCapMs, delay * 2);
          this.options.observer?.restarted('error');
          continue;
        }
        log.info('re-listing', { path: this.options.path, reason: ended.reason, detail: ended.message });
        reason = ended.reason;
        if (ended.reason === 'expired') {
          await sleep(Math.min(delay, backoffInitialMs), signal);
        }
        break;
      }
    }
  }

  /** Lists every page and replaces the cache, delivering the differences; returns the list's resourceVersion. */
  private async relist(): Promise<string> {
    const { kc, path, labelSelector, pageSize } = this.options;
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string;
    do {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (labelSelector) query.set('labelSelector', labelSelector);
      if (continueToken) query.set('continue', continueToken);
      // A list follows a broken or silent watch, when a pooled connection may be half-open too:
      // it would hang until the request timeout. Lists are rare; each gets its own connection.
      const response = await kubeRequest(kc, 'GET', `${path}?${query}`, undefined, undefined, {}, true);
      if (response.status !== 200) throw new Error(`list ${path} answered ${response.status}: ${statusMessage(response)}`);
      const page = JSON.parse(response.body) as { items: T[]; metadata: { resourceVersion: string; continue?: string } };
      items.push(...page.items);
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (continueToken);
    this.lastActivity = Date.now();
    this.replace(items);
    this.synced = true;
    return resourceVersion;
  }

  private replace(items: readonly T[]): void {
    const seen = new Set<string>();
    for (const object of items) {
      const key = objectKey(object);
      seen.add(key);
      this.apply('MODIFIED', object, true);
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.handler({ type: 'delete', key, object: old });
      }
    }
  }

  /** Applies one change to the cache and tells the handler what it amounts to. */
  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', received: T, fromList = false): void {
    const object = this.options.transform ? this.options.transform(received) : received;
    const key = objectKey(object);
    const old = this.cache.get(key);
    if (type === 'DELETED') {
      // A delete for an object the cache no longer has under that uid was already delivered.
      if (old && old.metadata.uid === object.metadata.uid) {
        this.cache.delete(key);
        this.handler({ type: 'delete', key, object });
      }
      return;
    }
    this.cache.set(key, object);
    if (!old) {
      this.handler({ type: 'add', key, object });
    } else if (old.metadata.uid !== object.metadata.uid) {
      this.handler({ type: 'delete', key, object: old });
      this.handler({ type: 'add', key, object });
    } else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) {
      this.handler({ type: 'update', key, object, old });
    } else if (fromList) {
      this.handler({ type: 'resync', key, object });
    }
  }

  private async watchOnce(resourceVersion: string, signal: AbortSignal, resyncAt: number, advance: (rv: string) => void): Promise<WatchEnded> {
    const { kc, path, labelSelector, watchTimeoutSeconds, staleAfterMs } = this.options;
    const timeoutSeconds = Math.round(jittered(watchTimeoutSeconds));
    return new Promise<WatchEnded>((resolveWatch) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (ended: WatchEnded) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        resolveWatch(ended);
      };
      const onAbort = () => finish(new WatchEnded('closed', 'stopped'));
      signal.addEventListener('abort', onAbort);
      this.lastActivity = Date.now();
      const watchdog = setInterval(() => {
        if (Date.now() >= resyncAt) finish(new WatchEnded('resync', 'periodic re-list'));
        else if (this.idleMs() > staleAfterMs) finish(new WatchEnded('stale', `no event or bookmark for ${Math.round(this.idleMs() / 1000)} s`));
      }, Math.min(1_000, staleAfterMs / 4));
      watchdog.unref();
      const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, resourceVersion, timeoutSeconds };
      if (labelSelector) query.labelSelector = labelSelector;
      new Watch(kc)
        .watch(
          path,
          query,
          (type: string, object: unknown) => {
            if (settled) return;
            this.lastActivity = Date.now();
            this.options.observer?.event();
            if (type === 'ERROR') {
              const status = object as { code?: number; message?: string };
              finish(new WatchEnded(status.code === 410 ? 'expired' : 'error', status.message ?? `watch error ${status.code}`));
              return;
            }
            const item = object as T;
            advance(item.metadata.resourceVersion);
            if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.apply(type, item);
          },
          (error: unknown) => {
            if (!error) return finish(new WatchEnded('closed', 'server ended the watch'));
            const code = (error as { statusCode?: number }).statusCode;
            finish(new WatchEnded(code === 410 ? 'expired' : 'error', error instanceof Error ? error.message : String(error)));
          },
        )
        .then(
          (abortController) => {
            controller = abortController;
            if (settled) abortController.abort();
          },
          (error: unknown) => finish(new WatchEnded('error', String(error))),
        );
    });
  }
}

/** Spreads periodic work of many replicas and informers so it does not line up (client-go jitters resync too). */
function jittered(value: number): number {
  return value * (1 + Math.random() * 0.2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    if (signal.aborted) return resolveSleep();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolveSleep();
    }
    signal.addEventListener('abort', done);
  });
}
