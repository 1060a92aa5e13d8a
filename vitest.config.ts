import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration tests talk to real servers; a cold API server can take seconds to answer.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: one worker per core keeps the API server and S3 server responsive.
    maxWorkers: 2,
    // The SDK warns on every client that Node 20 support ends in 2027; orchard pins Node 20 (client-node 1.x) on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    reporters: ['default'],
  },
});
