import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { kubeConfigFor, type StackState } from '../../src/dev/stack.ts';

export function stack(): StackState {
  return inject('stack');
}

export function kubeConfig(): KubeConfig {
  return kubeConfigFor(stack());
}

/** A fresh namespace per test, so tests never see each other's objects. */
export async function freshNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name, labels: { 'orchard.fruits.dev/test': 'true' } } } });
  return name;
}

/** Polls `probe` until it returns a value, failing after `timeoutMs` with what it last saw. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000, what: string | (() => string) = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      // A function is read at the deadline, so the message can say what was seen by then.
      const description = typeof what === 'function' ? what() : what;
      throw new Error(`${description} not reached within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
