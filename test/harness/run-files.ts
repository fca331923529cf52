/**
 * A lean runner for the unit tier (scripts/test.sh --tier unit): runs each test file as `node file`, a few at a
 * time, and prints TAP shaped as tap's runner prints it (each file a subtest, its tests indented one level), so
 * scripts/tap-count.mjs counts it the same way. Why not tap's runner: it starts every file with a module-loading
 * hook (@tapjs/processinfo) that costs about 0.7 s of CPU per file, plus 2 s for the runner itself; on a 2-core box
 * that was more than half of the unit tier. A test file run by node prints TAP by itself; this adds only the
 * per-file timeout and the collecting. The etcd and lab tiers keep tap's runner.
 *
 * CLI: node dist/test/harness/run-files.js [--jobs N] [--timeout SECONDS] file.test.js...
 */
import { spawn, type ChildProcess } from 'node:child_process';

interface Result {
  readonly file: string;
  readonly output: string;
  readonly ok: boolean;
  readonly why: string;
  readonly ms: number;
}

const running = new Set<ChildProcess>();

/** `node file`, its stdout and stderr together, killed (TERM, then KILL) after timeoutS seconds. */
function runFile(file: string, timeoutS: number): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    // TAP_TIMEOUT is what tap's runner hands its children for --timeout: tap's own limit for the file's tests.
    const child = spawn(process.execPath, ['--enable-source-maps', file], {
      env: { ...process.env, TAP_TIMEOUT: String(timeoutS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const kill = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      },
      (timeoutS + 10) * 1000,
    );
    const done = (why: string, ok: boolean): void => {
      clearTimeout(kill);
      running.delete(child);
      resolve({ file, output, ok, why, ms: Date.now() - t0 });
    };
    child.on('error', (err) => done(`cannot start: ${err.message}`, false));
    child.on('close', (code, signal) => {
      if (timedOut) done(`timeout after ${timeoutS} s`, false);
      else if (signal !== null) done(`signal ${signal}`, false);
      else done(code === 0 ? '' : `exit code ${String(code)}`, code === 0);
    });
  });
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : `    ${l}`))
    .join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  let jobs = 2;
  let timeoutS = 900;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--jobs' || a === '--timeout') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) {
        process.stderr.write(`run-files: ${a} needs a positive whole number\n`);
        return 2;
      }
      if (a === '--jobs') jobs = n;
      else timeoutS = n;
    } else files.push(a);
  }
  if (files.length === 0) {
    process.stderr.write('run-files: no test files given\n');
    return 2;
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      for (const c of running) c.kill('SIGKILL');
      process.exit(130);
    });
  }

  process.stdout.write('TAP version 14\n');
  let n = 0;
  let failed = 0;
  const queue = [...files];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const r = await runFile(file, timeoutS);
      n++;
      if (!r.ok) failed++;
      const body = r.output.endsWith('\n') || r.output === '' ? r.output : `${r.output}\n`;
      process.stdout.write(`# Subtest: ${r.file}\n${indent(body)}${r.ok ? 'ok' : 'not ok'} ${n} - ${r.file}${r.why ? ` # ${r.why}` : ''} # time=${r.ms}ms\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
  process.stdout.write(`1..${n}\n`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
