import { describe, expect, it, vi } from 'vitest';
import { ExponentialBackoff, WorkQueue } from '../../src/kube/queue.ts';

describe('work queue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands a key being processed to a second worker, and re-queues it once on done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(second).toBe('a');
    q.done('a');
    expect(q.pending).toBe(0);
  });

  it('hands a key added while a worker waits straight to that worker', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('backs off exponentially per key up to the cap, and forget resets it', () => {
    const b = new ExponentialBackoff(100, 1_000);
    expect([1, 2, 3, 4, 5, 6].map(() => b.when('k'))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(b.when('other')).toBe(100);
    b.forget('k');
    expect(b.when('k')).toBe(100);
    // A key failing forever stays at the cap: no overflow to 0 or Infinity.
    for (let i = 0; i < 100; i++) b.when('k');
    expect(b.when('k')).toBe(1_000);
  });

  it('keeps the earliest of several delayed adds of one key', async () => {
    // Injected time: the queue's clock and its timers are vitest's, so nothing here waits or races.
    vi.useFakeTimers();
    try {
      const q = new WorkQueue(undefined, undefined, () => Date.now());
      q.addAfter('k', 5_000);
      q.addAfter('k', 20);
      q.addAfter('k', 10_000);
      let got: string | undefined;
      void q.get().then((key) => (got = key));
      await vi.advanceTimersByTimeAsync(19);
      expect(got).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(got).toBe('k');
      q.done('k');
      // The later delays were dropped, not left to add the key again.
      await vi.advanceTimersByTimeAsync(10_000);
      expect(q.length).toBe(0);
      q.shutDown();
    } finally {
      vi.useRealTimers();
    }
  });

  it('returns undefined to waiting workers on shutdown and drops delayed keys', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.addAfter('late', 50);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(await q.get()).toBeUndefined();
    q.add('x');
    expect(q.length).toBe(0);
  });
});
