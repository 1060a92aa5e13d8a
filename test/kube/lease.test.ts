import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, LeaderElector, decide, formatMicroTime, observe, parseMicroTime, recordOf, releaseRecord, sameRecord, type LeaseConfig, type LeaseRecord, type Observation } from '../../src/kube/lease.ts';
import { createLogger } from '../../src/log.ts';

const T0 = Date.parse('2026-11-24T10:00:00.000Z');
const HOUR = 3_600_000;
const ME = 'replica-a';

function held(overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: 'replica-b',
    leaseDurationSeconds: 15,
    acquireTime: '2026-11-24T09:00:00.000000Z',
    renewTime: '2026-11-24T09:59:58.000000Z',
    leaseTransitions: 4,
    ...overrides,
  };
}

function observationOf(decision: ReturnType<typeof decide>): Observation {
  if (decision.action === 'create') throw new Error('a create decision carries no observation');
  return decision.observation;
}

describe('leader election decisions (pure, injected clock)', () => {
  it('creates the lease when there is none, holding it from now with no transitions', () => {
    expect(decide(undefined, undefined, ME, 15, T0 + 123)).toEqual({
      action: 'create',
      record: { holderIdentity: ME, leaseDurationSeconds: 15, acquireTime: '2026-11-24T10:00:00.123000Z', renewTime: '2026-11-24T10:00:00.123000Z', leaseTransitions: 0 },
    });
  });

  it("waits while another holder's lease runs on the local clock, and takes it over, counting a transition, once it has expired", () => {
    const first = decide(held(), undefined, ME, 15, T0);
    expect(first).toMatchObject({ action: 'wait', holder: 'replica-b', observation: { observedAt: T0 }, expiresAt: T0 + 15_000 });

    const later = decide(held(), observationOf(first), ME, 15, T0 + 14_999);
    expect(later).toMatchObject({ action: 'wait', observation: { observedAt: T0 } });

    const expired = decide(held(), observationOf(later), ME, 15, T0 + 15_000);
    expect(expired).toMatchObject({
      action: 'update',
      record: { holderIdentity: ME, leaseDurationSeconds: 15, acquireTime: formatMicroTime(T0 + 15_000), renewTime: formatMicroTime(T0 + 15_000), leaseTransitions: 5 },
    });
  });

  it('restarts the wait whenever the record changes, whatever its timestamps say', () => {
    const first = decide(held(), undefined, ME, 15, T0);
    // A renewal that even moves renewTime backwards is still proof that the holder is alive.
    const renewed = held({ renewTime: '2026-11-24T09:00:00.000000Z' });
    const second = decide(renewed, observationOf(first), ME, 15, T0 + 10_000);
    expect(second).toMatchObject({ action: 'wait', observation: { observedAt: T0 + 10_000 }, expiresAt: T0 + 25_000 });
    expect(decide(renewed, observationOf(second), ME, 15, T0 + 20_000).action).toBe('wait');
    expect(decide(renewed, observationOf(second), ME, 15, T0 + 25_000).action).toBe('update');
  });

  it("ignores the server's timestamps: a renewTime an hour old still gets a full lease duration, one an hour ahead no more", () => {
    const stale = held({ renewTime: formatMicroTime(T0 - HOUR) });
    expect(decide(stale, undefined, ME, 15, T0).action).toBe('wait');
    expect(decide(stale, observationOf(decide(stale, undefined, ME, 15, T0)), ME, 15, T0 + 14_999).action).toBe('wait');

    const ahead = held({ renewTime: formatMicroTime(T0 + HOUR) });
    expect(decide(ahead, observationOf(decide(ahead, undefined, ME, 15, T0)), ME, 15, T0 + 15_000).action).toBe('update');
  });

  it('judges expiry by the leaseDurationSeconds in the record, not by its own setting', () => {
    const short = held({ leaseDurationSeconds: 2 });
    const first = observationOf(decide(short, undefined, ME, 15, T0));
    expect(decide(short, first, ME, 15, T0 + 1_999).action).toBe('wait');
    expect(decide(short, first, ME, 15, T0 + 2_000)).toMatchObject({ action: 'update', record: { leaseDurationSeconds: 15 } });
  });

  it('renews its own lease at once, keeping acquireTime verbatim and leaseTransitions', () => {
    const mine = held({ holderIdentity: ME, acquireTime: '2026-11-24T09:00:00.654321Z' });
    expect(decide(mine, undefined, ME, 15, T0)).toEqual({
      action: 'update',
      observation: { record: mine, observedAt: T0 },
      record: { holderIdentity: ME, leaseDurationSeconds: 15, acquireTime: '2026-11-24T09:00:00.654321Z', renewTime: formatMicroTime(T0), leaseTransitions: 4 },
    });
  });

  it('takes a released lease (empty holder) at once, and reads missing fields as zero values', () => {
    const released = held({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: formatMicroTime(T0), renewTime: formatMicroTime(T0) });
    expect(decide(released, undefined, ME, 15, T0)).toMatchObject({ action: 'update', record: { holderIdentity: ME, leaseTransitions: 5 } });

    expect(recordOf(undefined)).toEqual({ holderIdentity: '', leaseDurationSeconds: 0, acquireTime: undefined, renewTime: undefined, leaseTransitions: 0 });
    expect(decide(recordOf({}), undefined, ME, 15, T0)).toMatchObject({ action: 'update', record: { holderIdentity: ME, leaseTransitions: 1 } });
  });

  it("releases like client-go: empty holder, 1 s, both times now, transitions kept; never someone else's lease", () => {
    expect(releaseRecord(held({ holderIdentity: ME }), ME, T0)).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: formatMicroTime(T0),
      renewTime: formatMicroTime(T0),
      leaseTransitions: 4,
    });
    expect(releaseRecord(held(), ME, T0)).toBeUndefined();
  });

  it('writes MicroTime with six fractional digits and parses RFC 3339 with any precision and offset', () => {
    expect(formatMicroTime(Date.parse('2026-11-24T10:00:00.123Z'))).toBe('2026-11-24T10:00:00.123000Z');
    expect(formatMicroTime(T0)).toBe('2026-11-24T10:00:00.000000Z');
    expect(parseMicroTime('2026-11-24T10:00:00.123456Z')).toBeCloseTo(T0 + 123.456, 6);
    expect(parseMicroTime('2026-11-24T10:00:00.123Z')).toBe(T0 + 123);
    expect(parseMicroTime('2026-11-24T10:00:00Z')).toBe(T0);
    expect(parseMicroTime('2026-11-24t10:00:00.123456789z')).toBeCloseTo(T0 + 123.456789, 6);
    expect(parseMicroTime('2026-11-24T11:30:00.5+01:30')).toBe(T0 + 500);
    for (const bad of ['', 'yesterday', '2026-11-24 10:00:00Z', '2026-11-24T10:00:00', '2026-13-24T10:00:00Z']) expect(parseMicroTime(bad), bad).toBeUndefined();
  });

  it('sees the same instant in another spelling as no change, but compares unparseable times verbatim', () => {
    const utc = held({ renewTime: '2026-11-24T10:00:00.123456Z' });
    const offset = held({ renewTime: '2026-11-24T11:00:00.123456+01:00' });
    expect(sameRecord(utc, offset)).toBe(true);
    expect(observe({ record: utc, observedAt: T0 }, offset, T0 + 5_000).observedAt).toBe(T0);
    expect(sameRecord(held({ renewTime: 'garbage' }), held({ renewTime: 'garbage' }))).toBe(true);
    expect(sameRecord(held({ renewTime: 'garbage' }), held({ renewTime: 'garbage!' }))).toBe(false);
    expect(sameRecord(held(), held({ leaseTransitions: 5 }))).toBe(false);
    expect(sameRecord(held(), held({ renewTime: undefined }))).toBe(false);
  });

  it("validates the timings as client-go does (leaseDuration > renewDeadline > retryPeriod * 1.2), with controller-runtime's defaults valid", () => {
    const base = { kc: new KubeConfig(), namespace: 'ns', name: 'orchard', identity: ME, log: createLogger({}, () => {}) };
    const elector = (overrides: Partial<LeaseConfig>) => () => new LeaderElector({ ...base, ...overrides });
    expect([DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS]).toEqual([15_000, 10_000, 2_000]);
    expect(elector({})).not.toThrow();
    expect(elector({ leaseDurationMs: 10_000 })).toThrow('leaseDurationMs (10000) must be greater than renewDeadlineMs (10000)');
    expect(elector({ renewDeadlineMs: 2_400 })).toThrow('renewDeadlineMs (2400) must be greater than retryPeriodMs * 1.2 (2400)');
    expect(elector({ renewDeadlineMs: 2_401 })).not.toThrow();
    expect(elector({ leaseDurationMs: 2_500, renewDeadlineMs: 2_000, retryPeriodMs: 500 })).toThrow('not a whole number of seconds');
    expect(elector({ retryPeriodMs: 0 })).toThrow('retryPeriodMs must be greater than zero');
    expect(elector({ renewDeadlineMs: Number.NaN })).toThrow('renewDeadlineMs must be greater than zero');
    expect(elector({ identity: '' })).toThrow('identity is empty');
  });
});
