/** Running the few helper programs applying needs (useradd, usermod, hostnamectl, systemd-run). */
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  run(argv: readonly string[], options?: { env?: Readonly<Record<string, string>> }): Promise<CommandResult>;
}

export const spawnRunner: CommandRunner = {
  run(argv, options = {}) {
    return new Promise((resolve, reject) => {
      const [cmd, ...args] = argv;
      if (!cmd) {
        reject(new Error('empty command'));
        return;
      }
      const child = spawn(cmd, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...options.env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    });
  },
};

/** `useradd ...` style text for messages. */
export function commandText(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
