#!/usr/bin/env node
/**
 * `npm run bench -- [NAME...] [--quick] [--list]`: runs the named benchmarks (default: all marked byDefault),
 * writes bench/results/<name>.json (with --quick: <tmp>/fleet-bench-quick/<name>.json) and prints the figures.
 * Everything a benchmark starts is stopped when it ends, fails, or the run is interrupted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { environment } from './env.js';
import { Teardown } from './teardown.js';
import { errorMessage } from '../lib/errors.js';
import type { Benchmark, BenchContext } from './context.js';
import { throughput, throughput100k, throughputServers } from './benchmarks/throughput.js';
import { failover } from './benchmarks/failover.js';
import { latency } from './benchmarks/latency.js';
import { idle } from './benchmarks/idle.js';
import { cli } from './benchmarks/cli.js';
import { versusFleet } from './benchmarks/versus-fleet.js';

export const BENCHMARKS: readonly Benchmark[] = [throughput, failover, latency, idle, cli, versusFleet, throughput100k, throughputServers];

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

function usage(): string {
  const lines = BENCHMARKS.map((b) => `  ${b.name.padEnd(20)} ${b.byDefault ? '' : '(only by name) '}${b.summary}`);
  return `usage: npm run bench -- [NAME...] [--quick] [--list]\n\nbenchmarks:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('-')));
  const names = argv.filter((a) => !a.startsWith('-'));
  for (const f of flags) {
    if (!['--quick', '--list', '--help', '-h'].includes(f)) {
      process.stderr.write(`bench: unknown option ${f}\n${usage()}`);
      return 2;
    }
  }
  if (flags.has('--list') || flags.has('--help') || flags.has('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: no benchmark named ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const quick = flags.has('--quick');
  const selected = names.length > 0 ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS.filter((b) => b.byDefault);
  const outDir = quick ? path.join(os.tmpdir(), 'fleet-bench-quick') : RESULTS_DIR;
  mkdirSync(outDir, { recursive: true });

  let active: Teardown | undefined;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`bench: ${sig}: stopping what was started\n`);
    void (active?.run() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let failed = 0;
  for (const b of selected) {
    const teardown = new Teardown();
    active = teardown;
    const ctx: BenchContext = {
      quick,
      teardown,
      log: (msg) => process.stderr.write(`[${b.name}] ${msg}\n`),
    };
    const env = environment();
    const started = Date.now();
    ctx.log(`starting${quick ? ' (quick)' : ''}; load average ${env.loadAverage.join(' ')}`);
    try {
      const result = await b.run(ctx);
      if (typeof result.skipped === 'string') {
        // e.g. versus-fleet without fleet v1.0's binaries: one line, and the last real figures stay in place
        process.stdout.write(`${b.name}: skipped: ${result.skipped}\n`);
        continue;
      }
      const doc = {
        benchmark: b.name,
        summary: b.summary,
        quick,
        reproduce: `npm run bench -- ${b.name}${quick ? ' --quick' : ''}`,
        environment: env,
        loadAverageAfter: os.loadavg().map((l) => Math.round(l * 100) / 100),
        wallSeconds: Math.round((Date.now() - started) / 100) / 10,
        ...result,
      };
      const file = path.join(outDir, `${b.name}.json`);
      writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
      process.stdout.write(`${b.name}: ${JSON.stringify(result.figures ?? {})}\n  -> ${file}\n`);
    } catch (err) {
      failed++;
      process.stderr.write(`[${b.name}] FAILED: ${err instanceof Error && err.stack ? err.stack : errorMessage(err)}\n`);
    } finally {
      await teardown.run();
      active = undefined;
    }
    if (interrupted) break;
  }
  return failed > 0 ? 1 : 0;
}

// a benchmark that failed midway may leave timers or sockets behind: what it started is stopped by now
process.exit(await main(process.argv.slice(2)));
