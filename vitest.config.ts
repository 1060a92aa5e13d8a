import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Node test files that take the shared node down (test/support/node-stage.ts), in the order they
 * run after every file that shares it, so that the shared node comes up once: the machine-state
 * test, whose last check is the shared node's `down`, then the demo, which needs a node of its own.
 */
const LAST = ['test/dev/node/node.node.test.ts', 'test/cli/demo.node.test.ts'];

class NodeAwareSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => 1 + LAST.findIndex((path) => file.moduleId.endsWith(path));
    // Array.prototype.sort is stable: vitest's own order holds within each rank.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

/**
 * Three projects: `unit` needs no server and runs in seconds (`npm run test:unit`); `integration`
 * (files named *.integration.test.ts) runs against one local stack that its global setup starts,
 * or reuses when `npm test` started it first; `node` (*.node.test.ts) brings up a real Kubernetes
 * node with the spark-operator, and needs root.
 */
export default defineConfig({
  test: {
    // Integration tests talk to real servers; a cold API server can take seconds to answer.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: one worker per core keeps the API server and S3 server responsive.
    maxWorkers: 2,
    // The SDK warns on every client that Node 20 support ends in 2027; orchard pins Node 20 (client-node 1.x) on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    reporters: ['default'],
    sequence: { sequencer: NodeAwareSequencer },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.integration.test.ts', 'test/**/*.node.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.integration.test.ts'], globalSetup: ['test/global-setup.ts'] } },
      // A real Kubernetes node owns machine-wide things (a bridge, iptables chains, cgroups): one
      // file at a time, after the other projects, so nothing else runs while it comes and goes.
      // The files share one node (test/node-global-setup.ts).
      { extends: true, test: { name: 'node', include: ['test/**/*.node.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 }, globalSetup: ['test/node-global-setup.ts'] } },
    ],
  },
});
