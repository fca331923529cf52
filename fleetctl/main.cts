#!/usr/bin/env node
/**
 * fleetctl entry point, the package's `bin`: runs entry.ts's main from its bundle, dist/fleetctl/quick.cjs
 * (scripts/bundle.mjs, run by scripts/build.sh after tsc), which start-up reads and compiles as one file instead of
 * about 25 ES modules (issue 13). This file is CommonJS (.cts → main.cjs): Node starts an ES module entry with its
 * ES module loader, about 10 ms of CPU more per command than a CommonJS one. When the bundle is absent (dist/
 * built by tsc alone) the same code runs as ES modules.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

type Entry = typeof import('./entry.js');

const bundle = join(__dirname, 'quick.cjs');
const entry: Promise<Entry> = existsSync(bundle) ? Promise.resolve(require(bundle) as Entry) : import('./entry.js');
void entry.then((e) => e.main());
