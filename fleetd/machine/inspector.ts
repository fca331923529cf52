/**
 * status and journal of units on this machine, from systemctl and journalctl (served by the API), and the
 * UnitInspector interface the API's handlers take (tests pass fakes).
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { JournalRequest } from '../../lib/api/schema.js';

export interface StatusOutput {
  /** `systemctl status -l <unit>` output (stdout and stderr). */
  text: string;
  /** systemctl's exit status: 0 active, 3 not running, 4 no such unit... */
  exitCode: number;
}

/** Provided by fleetd on machines that run units: inspects units through the local systemd/journald. */
export interface UnitInspector {
  status(unit: string): Promise<StatusOutput>;
  /** A byte stream of journal output; ends by itself unless `follow`; must stop when `signal` aborts. */
  journal(unit: string, req: JournalRequest, signal: AbortSignal): Readable;
}

export class LocalInspector implements UnitInspector {
  status(unit: string): Promise<StatusOutput> {
    return new Promise((resolve, reject) => {
      const child = spawn('systemctl', ['status', '-l', '--no-pager', '--', unit], { stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ text: Buffer.concat(chunks).toString('utf8'), exitCode: code ?? 1 }));
    });
  }

  journal(unit: string, req: JournalRequest, signal: AbortSignal): Readable {
    const args = ['--unit', unit, '--no-pager', '-n', String(req.lines), '--output', req.output];
    if (req.follow) args.push('-f');
    const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const stop = (): void => {
      child.kill('SIGTERM');
    };
    signal.addEventListener('abort', stop, { once: true });
    child.on('close', () => signal.removeEventListener('abort', stop));
    return child.stdout;
  }
}
