/**
 * The one way tests run a node script (fleetctl, coreos-cloudinit, fleetd) as a child process and collect what it
 * printed. Callers shape the environment and stdin; the child is killed after a timeout so a hang fails the test.
 */
import { spawn } from 'node:child_process';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunNodeOptions {
  /** the child's whole environment; default PATH only */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** written to the child's stdin, which is then closed; without it stdin is /dev/null */
  readonly stdin?: string | Buffer;
  /** SIGKILL after this long; default 60 s */
  readonly timeoutMs?: number;
}

/** `node <script> args...`; resolves when it has exited and its output is read. */
export function runNode(script: string, args: readonly string[], o: RunNodeOptions = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: o.cwd,
      env: o.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.stdin);
    }
  });
}
