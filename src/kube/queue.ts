/**
 * A de-duplicating, rate-limited work queue with client-go's workqueue contract: a key is queued at
 * most once; a key being processed is never handed to a second worker, and if it is added again
 * meanwhile it is queued once more when `done` is called; failures come back after a per-key
 * exponential delay that `forget` resets.
 */
import { OrchardError } from '../errors.ts';

/** Per-key exponential backoff: base * 2^failures, capped. */
export class ExponentialBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    /** Controllers retry a transient error quickly at first (client-go: 5 ms; S3 and API calls here take longer). */
    readonly baseMs = 250,
    /** A key that always fails is retried at most once per this, never in a hot loop. */
    readonly capMs = 60_000,
  ) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.capMs, this.baseMs * 2 ** Math.min(n, 30));
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

export interface QueueObserver {
  depth(n: number): void;
  added(): void;
  retried(): void;
}

const NO_OBSERVER: QueueObserver = { depth: () => {}, added: () => {}, retried: () => {} };

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(
    readonly backoff = new ExponentialBackoff(),
    private readonly observer: QueueObserver = NO_OBSERVER,
    private readonly now: () => number = Date.now,
  ) {}

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.observer.added();
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
      this.observer.depth(this.queue.length);
    }
  }

  /** Adds `key` after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Re-queues `key` after its backoff delay; returns that delay. */
  addRateLimited(key: string): number {
    const ms = this.backoff.when(key);
    this.observer.retried();
    this.addAfter(key, ms);
    return ms;
  }

  forget(key: string): void {
    this.backoff.forget(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.observer.depth(this.queue.length);
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolveKey) => this.waiters.push(resolveKey));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  get length(): number {
    return this.queue.length;
  }

  /** Keys waiting for a worker, in progress, or waiting out a delay. */
  get pending(): number {
    return this.queue.length + this.processing.size + this.delayed.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}

/** Work on a queued key that should be retried with backoff; `reason` labels the error metric. */
export class RetryableError extends OrchardError {
  constructor(
    readonly reason: string,
    message: string,
    hint?: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, hint, context, options);
  }
}
