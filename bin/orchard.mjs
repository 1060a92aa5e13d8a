#!/usr/bin/env node
// The CLI runs from TypeScript sources through tsx, so a clone needs no build step before use.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on Node 20 that future releases will need Node 22; orchard pins its SDK version,
// which supports Node 20, so the warning says nothing about this installation.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
await import('../src/cli/main.ts');
