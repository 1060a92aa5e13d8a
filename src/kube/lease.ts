/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's tools/leaderelection
 * (which client-node lacks). Like client-go, an elector never trusts the timestamps in the Lease:
 * another holder's lease expires `leaseDurationSeconds` after this replica last saw the record
 * change, on its own clock, so clock skew between replicas does not matter (skew *rate* does).
 * Like client-go, this does not fence: a leader that stalls longer than renewDeadline without
 * noticing may briefly overlap with its successor.
 *
 * The decisions are pure functions of (record, what was observed, now); `LeaderElector` only reads
 * and writes the Lease and paces the loops.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { OrchardError } from '../errors.ts';
import { kubeRequest, statusMessage } from './raw.ts';
import type { Logger } from '../log.ts';

/** client-go's "core clients" defaults, which controller-runtime's manager also uses. */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
/**
 * client-go's leaderelection.JitterFactor: standbys wait retryPeriod * (1 + 1.2 * random) between
 * attempts, so replicas restarted together do not poll the API server in step.
 */
export const JITTER_FACTOR = 1.2;
/**
 * What client-go writes when it releases a lease: the API server rejects 0, and together with an
 * empty holderIdentity (which anyone may take at once) a reader that honours the duration waits 1 s.
 */
export const RELEASED_LEASE_DURATION_SECONDS = 1;

const API_VERSION = 'coordination.k8s.io/v1';

export interface LeaseTimings {
  /**
   * How long a standby waits, from the last change it observed, before taking over; whole seconds,
   * because the Lease stores seconds and standbys wait what it says. @default 15 s
   */
  readonly leaseDurationMs: number;
  /** How long a leader keeps retrying a failed renewal before it gives up leading. @default 10 s */
  readonly renewDeadlineMs: number;
  /** Pause between attempts (jittered while waiting to acquire). @default 2 s */
  readonly retryPeriodMs: number;
}

export interface LeaseConfig extends Partial<LeaseTimings> {
  readonly kc: KubeConfig;
  readonly namespace: string;
  /** Name of the Lease object; every replica of one controller uses the same. */
  readonly name: string;
  /** Unique per replica and stable for its lifetime, such as the pod name. */
  readonly identity: string;
  /**
   * Local clock, in ms since the epoch. It stamps the Lease and measures expiry and deadlines, so it
   * must advance with real time when `run` is used; a constant offset (a skewed node) is harmless.
   * @default Date.now
   */
  readonly now?: () => number;
  readonly log: Logger;
}

export interface LeaderCallbacks {
  /** Called once the lease is acquired; `leading` is aborted when leadership ends for any reason. */
  onStartedLeading(leading: AbortSignal): void;
  /**
   * Called after leading ends: the lease was lost (the caller should exit, as client-go's users do)
   * or `signal` was aborted and the lease released. Not called if this replica never led.
   */
  onStoppedLeading(): void;
  /** Called when a different holder is observed, this replica included. */
  onNewLeader?(identity: string): void;
}

/** client-go's LeaderElectionRecord: the fields of a Lease spec that leader election reads and writes. */
export interface LeaseRecord {
  /** Empty when nobody holds the lease (never acquired, or released). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** MicroTime as on the wire, kept verbatim across renewals. */
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions: number;
}

export interface Observation {
  readonly record: LeaseRecord;
  /** Local clock when this record was first seen: the only time another holder's expiry is measured from. */
  readonly observedAt: number;
}

export type Decision =
  | { readonly action: 'create'; readonly record: LeaseRecord }
  | { readonly action: 'update'; readonly record: LeaseRecord; readonly observation: Observation }
  | { readonly action: 'wait'; readonly observation: Observation; readonly holder: string; readonly expiresAt: number };

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits. The API server rejects
 * the three digits of `toISOString()` (and none, and nine) with 400 BadRequest.
 */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Milliseconds since the epoch (sub-millisecond digits kept as a fraction), or undefined if `text` is not RFC 3339. */
export function parseMicroTime(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, seconds, fraction = '', zone] = match;
  const whole = Date.parse(`${seconds}${zone}`.toUpperCase());
  return Number.isNaN(whole) ? undefined : whole + Number(`0.${fraction}0`) * 1000;
}

function sameInstant(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const instant = parseMicroTime(a);
  return instant !== undefined && instant === parseMicroTime(b);
}

/**
 * Whether two records are the same observation. client-go compares the serialized records; times
 * are compared as instants here so that a writer's spelling (offset, digits) is not taken for a
 * renewal, while an unparseable time still compares verbatim and cannot keep a lease alive forever.
 */
export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.leaseTransitions === b.leaseTransitions &&
    sameInstant(a.acquireTime, b.acquireTime) &&
    sameInstant(a.renewTime, b.renewTime)
  );
}

/** The record in a Lease spec; missing fields read as client-go's zero values. */
export function recordOf(spec: LeaseSpec | undefined): LeaseRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
    acquireTime: spec?.acquireTime,
    renewTime: spec?.renewTime,
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
}

/** Keeps the previous observation while the record is unchanged, so its observedAt keeps counting. */
export function observe(previous: Observation | undefined, record: LeaseRecord, now: number): Observation {
  return previous && sameRecord(previous.record, record) ? previous : { record, observedAt: now };
}

/**
 * client-go's tryAcquireOrRenew without the I/O: given the Lease's record (undefined: no Lease) and
 * what this replica observed before, decide whether to create, to update (renew or take over) or to
 * wait. Expiry uses the record's own leaseDurationSeconds, as client-go does, so a released lease
 * (1 s) or a holder configured differently is judged by what it announced.
 */
export function decide(current: LeaseRecord | undefined, previous: Observation | undefined, identity: string, leaseDurationSeconds: number, now: number): Decision {
  const time = formatMicroTime(now);
  const mine: LeaseRecord = { holderIdentity: identity, leaseDurationSeconds, acquireTime: time, renewTime: time, leaseTransitions: 0 };
  if (!current) return { action: 'create', record: mine };
  const observation = observe(previous, current, now);
  if (current.holderIdentity === identity) {
    return { action: 'update', observation, record: { ...mine, acquireTime: current.acquireTime ?? time, leaseTransitions: current.leaseTransitions } };
  }
  const expiresAt = observation.observedAt + current.leaseDurationSeconds * 1000;
  if (current.holderIdentity !== '' && expiresAt > now) return { action: 'wait', observation, holder: current.holderIdentity, expiresAt };
  return { action: 'update', observation, record: { ...mine, leaseTransitions: current.leaseTransitions + 1 } };
}

/** client-go's release record, or undefined when `identity` does not hold the lease (nothing to release). */
export function releaseRecord(current: LeaseRecord, identity: string, now: number): LeaseRecord | undefined {
  if (current.holderIdentity !== identity) return undefined;
  const time = formatMicroTime(now);
  return { holderIdentity: '', leaseDurationSeconds: RELEASED_LEASE_DURATION_SECONDS, acquireTime: time, renewTime: time, leaseTransitions: current.leaseTransitions };
}

function specOf(record: LeaseRecord): LeaseSpec {
  const { holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions } = record;
  return { holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions };
}

function validate(identity: string, leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): void {
  const durations = { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
  for (const [name, value] of Object.entries(durations)) {
    if (!(value > 0)) throw new OrchardError(`leader election ${name} must be greater than zero, got ${value}`);
  }
  if (leaseDurationMs % 1000 !== 0) {
    throw new OrchardError(`leader election leaseDurationMs ${leaseDurationMs} is not a whole number of seconds`, 'the Lease stores whole seconds and standbys wait what it says: round it');
  }
  if (leaseDurationMs <= renewDeadlineMs) {
    throw new OrchardError(
      `leader election leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs})`,
      'a leader must give up before a standby may take over: lengthen the lease or shorten the renew deadline',
    );
  }
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) {
    throw new OrchardError(
      `leader election renewDeadlineMs (${renewDeadlineMs}) must be greater than retryPeriodMs * ${JITTER_FACTOR} (${JITTER_FACTOR * retryPeriodMs})`,
      'a leader needs room for more than one renewal attempt before its deadline: shorten the retry period',
    );
  }
  if (identity === '') throw new OrchardError('leader election identity is empty', 'an empty holderIdentity means a free lease: use the pod name');
}

type Attempt =
  | { readonly kind: 'acquired'; readonly observation: Observation }
  | { readonly kind: 'held'; readonly observation: Observation; readonly holder: string; readonly expiresAt: number }
  /** `status` is absent for a network error, a malformed answer or a timeout. */
  | { readonly kind: 'failed'; readonly why: string; readonly status?: number; readonly observation?: Observation };

type Release = { readonly kind: 'released'; readonly observation: Observation } | { readonly kind: 'not held' } | Extract<Attempt, { kind: 'failed' }>;

function failed(what: string, status: number, body: string, observation?: Observation): Extract<Attempt, { kind: 'failed' }> {
  return { kind: 'failed', why: `${what} answered ${status}: ${statusMessage({ status, body })}`, status, observation };
}

function thrown(error: unknown): Extract<Attempt, { kind: 'failed' }> {
  return { kind: 'failed', why: error instanceof Error ? error.message : String(error) };
}

/** Failures that pass by themselves; anything else (403, 422...) needs a person, so it is logged louder. */
function transient(attempt: Extract<Attempt, { kind: 'failed' }>): boolean {
  const { status } = attempt;
  return status === undefined || status === 409 || status === 429 || status >= 500;
}

async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}

export class LeaderElector {
  private readonly kc: KubeConfig;
  private readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly leases: string;
  private readonly path: string;
  private readonly name: string;
  private readonly namespace: string;
  private observation: Observation | undefined;
  private reported = '';
  private leading: AbortSignal | undefined;
  private running = false;

  constructor(config: LeaseConfig) {
    this.leaseDurationMs = config.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = config.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryPeriodMs = config.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    validate(config.identity, this.leaseDurationMs, this.renewDeadlineMs, this.retryPeriodMs);
    this.kc = config.kc;
    this.identity = config.identity;
    this.name = config.name;
    this.namespace = config.namespace;
    this.now = config.now ?? Date.now;
    this.leases = `/apis/${API_VERSION}/namespaces/${encodeURIComponent(config.namespace)}/leases`;
    this.path = `${this.leases}/${encodeURIComponent(config.name)}`;
    this.log = config.log.child({ lease: `${config.namespace}/${config.name}`, identity: config.identity });
  }

  /** True from onStartedLeading until the `leading` signal is aborted. */
  isLeader(): boolean {
    return this.leading !== undefined && !this.leading.aborted;
  }

  /** The holder seen in the last answer from the API server, or undefined if none (or released). */
  leader(): string | undefined {
    return this.observation?.record.holderIdentity || undefined;
  }

  /**
   * Competes for the lease until `signal` is aborted or leadership is lost, then resolves. On abort
   * while leading, the lease is released so a standby takes over at its next attempt rather than
   * after a full lease duration; as with client-go's ReleaseOnCancel, abort `signal` only once the
   * work guarded by the lease has stopped (the `leading` signal tells it to).
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    if (this.running) throw new OrchardError(`leader election for ${this.namespace}/${this.name} is already running`, 'call run() once per LeaderElector');
    this.running = true;
    try {
      const acquiredAt = await this.acquire(signal, callbacks.onNewLeader);
      if (acquiredAt === undefined) return;
      if (signal.aborted) return await this.release();
      const lost = new AbortController();
      this.leading = AbortSignal.any([signal, lost.signal]);
      let ended: 'aborted' | 'lost' = 'aborted';
      try {
        callbacks.onStartedLeading(this.leading);
        ended = await this.renew(signal, acquiredAt, callbacks.onNewLeader);
      } finally {
        lost.abort(new OrchardError(`lost the lease ${this.namespace}/${this.name}`));
        if (ended === 'aborted') await this.release();
        callbacks.onStoppedLeading();
      }
    } finally {
      this.running = false;
    }
  }

  /** Resolves with the local time the successful attempt started, or undefined if aborted first. */
  private async acquire(signal: AbortSignal, onNewLeader: LeaderCallbacks['onNewLeader']): Promise<number | undefined> {
    this.log.info('waiting to acquire the lease');
    while (!signal.aborted) {
      const started = this.now();
      // Bounded like a renewal, so that an unresponsive API server cannot hold up a shutdown.
      const attempt = await this.attempt(this.renewDeadlineMs, onNewLeader);
      if (attempt.kind === 'acquired') {
        this.log.info('acquired the lease', { transitions: attempt.observation.record.leaseTransitions });
        return started;
      }
      if (attempt.kind === 'held') this.log.debug('the lease is held', { holder: attempt.holder, expiresInMs: attempt.expiresAt - this.now() });
      else this.logFailure('attempt to acquire the lease failed', attempt);
      await pause(this.retryPeriodMs * (1 + JITTER_FACTOR * Math.random()), signal);
    }
    return undefined;
  }

  /**
   * Renews every retryPeriod. Leadership ends when renewDeadline has passed since the start of the
   * last successful renewal, and not an attempt later: that start precedes the write a standby
   * observes, so the leader gives up before any standby's lease duration can run out. client-go
   * counts from the start of each renewal round instead (a retryPeriod later), and notices only at
   * its next attempt, which spends up to two retry periods of that margin.
   */
  private async renew(signal: AbortSignal, acquiredAt: number, onNewLeader: LeaderCallbacks['onNewLeader']): Promise<'aborted' | 'lost'> {
    let renewedAt = acquiredAt;
    for (;;) {
      const deadline = renewedAt + this.renewDeadlineMs;
      const next = Math.min(this.now() + this.retryPeriodMs, deadline);
      await pause(next - this.now(), signal);
      if (signal.aborted) return 'aborted';
      if (next === deadline) {
        this.log.info('stopped leading: the lease was not renewed within the renew deadline', { renewDeadlineMs: this.renewDeadlineMs });
        return 'lost';
      }
      const started = this.now();
      const attempt = await this.attempt(deadline - started, onNewLeader);
      if (attempt.kind === 'acquired') renewedAt = started;
      // client-go retries until the deadline even then; but a newer holder in a consistent read means
      // someone else already leads, and every moment spent still leading is overlap.
      else if (attempt.kind === 'held') {
        this.log.info('stopped leading: another replica holds the lease', { holder: attempt.holder });
        return 'lost';
      } else this.logFailure('renewal failed', attempt);
    }
  }

  /** One tryAcquireOrRenew, abandoned after `budgetMs`; only a completed attempt changes what was observed. */
  private async attempt(budgetMs: number, onNewLeader: LeaderCallbacks['onNewLeader']): Promise<Attempt> {
    const attempt = (await within(this.tryAcquireOrRenew(this.observation).catch(thrown), budgetMs)) ?? thrown(`no answer within ${Math.round(budgetMs)} ms`);
    if (attempt.observation) this.observation = attempt.observation;
    const holder = this.observation?.record.holderIdentity ?? '';
    if (holder !== this.reported) {
      this.reported = holder;
      if (holder) {
        this.log.info('new leader', { leader: holder });
        onNewLeader?.(holder);
      }
    }
    return attempt;
  }

  private async tryAcquireOrRenew(previous: Observation | undefined): Promise<Attempt> {
    const got = await kubeRequest(this.kc, 'GET', this.path);
    if (got.status !== 200 && got.status !== 404) return failed('GET', got.status, got.body);
    const lease = got.status === 200 ? (JSON.parse(got.body) as Lease) : undefined;
    const decision = decide(lease && recordOf(lease.spec), previous, this.identity, this.leaseDurationMs / 1000, this.now());
    if (decision.action === 'wait') return { kind: 'held', observation: decision.observation, holder: decision.holder, expiresAt: decision.expiresAt };
    // The PUT carries the resourceVersion just read: a 409 means another replica wrote in between and
    // won this round. (The API server refuses a Lease update without one: 422.)
    const written = lease
      ? await kubeRequest(this.kc, 'PUT', this.path, { ...lease, spec: specOf(decision.record) })
      : await kubeRequest(this.kc, 'POST', this.leases, { apiVersion: API_VERSION, kind: 'Lease', metadata: { name: this.name, namespace: this.namespace }, spec: specOf(decision.record) });
    const observation = decision.action === 'update' ? decision.observation : undefined;
    if (written.status !== 200 && written.status !== 201) return failed(lease ? 'PUT' : 'POST', written.status, written.body, observation);
    return { kind: 'acquired', observation: { record: recordOf((JSON.parse(written.body) as Lease).spec), observedAt: this.now() } };
  }

  /** client-go's release: retried on conflict (a renewal in flight may have bumped the resourceVersion), within renewDeadline. */
  private async release(): Promise<void> {
    const deadline = this.now() + this.renewDeadlineMs;
    for (;;) {
      const budget = deadline - this.now();
      const result = budget > 0 ? ((await within(this.tryRelease().catch(thrown), budget)) ?? thrown(`no answer within ${Math.round(budget)} ms`)) : thrown('renew deadline passed');
      if (result.kind === 'released') {
        this.observation = result.observation;
        this.reported = '';
        this.log.info('released the lease');
        return;
      }
      if (result.kind === 'not held') return;
      if (result.status !== 409) {
        this.log.warn('could not release the lease; standbys take over when it expires', { error: result.why });
        return;
      }
    }
  }

  private async tryRelease(): Promise<Release> {
    const got = await kubeRequest(this.kc, 'GET', this.path);
    if (got.status === 404) return { kind: 'not held' };
    if (got.status !== 200) return failed('GET', got.status, got.body);
    const lease = JSON.parse(got.body) as Lease;
    const record = releaseRecord(recordOf(lease.spec), this.identity, this.now());
    if (!record) return { kind: 'not held' };
    const written = await kubeRequest(this.kc, 'PUT', this.path, { ...lease, spec: specOf(record) });
    if (written.status !== 200) return failed('PUT', written.status, written.body);
    return { kind: 'released', observation: { record: recordOf((JSON.parse(written.body) as Lease).spec), observedAt: this.now() } };
  }

  private logFailure(msg: string, attempt: Extract<Attempt, { kind: 'failed' }>): void {
    if (transient(attempt)) this.log.debug(msg, { error: attempt.why });
    else this.log.warn(msg, { error: attempt.why });
  }
}
