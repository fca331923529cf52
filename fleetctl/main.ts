#!/usr/bin/env node
/**
 * fleetctl entry point: runs entry.ts's main from its bundle, dist/fleetctl/quick.cjs (scripts/bundle.mjs, run by
 * scripts/build.sh after tsc), which start-up reads and compiles as one file instead of about 25 ES modules
 * (issue 13). When the bundle is absent (dist/ built by tsc alone) the same code runs as ES modules.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = new URL('./quick.cjs', import.meta.url);
const entry: typeof import('./entry.js') = existsSync(bundle) ? (createRequire(import.meta.url)(fileURLToPath(bundle)) as typeof import('./entry.js')) : await import('./entry.js');
await entry.main();
