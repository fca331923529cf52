/**
 * fleetd on real lab machines: a registry client on the lab's etcd, units written through it, and what
 * systemd inside a machine says about them.
 */
import { request } from 'node:http';
import type { Registry, UnitState } from '../../lib/registry/index.js';
import { loadUnit, type DesiredState, type LoadedUnit } from '../../lib/unit/index.js';
import type { TestLab } from '../harness/lab.js';
import { waitFor as poll } from '../harness/wait.js';

export { startFleetLab, type FleetLab } from '../harness/fleet-lab.js';
export { sleep } from '../harness/wait.js';

/** waitFor at a lab machine's pace: every 200 ms, up to 20 s by default; a probe that throws is retried. */
export function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  return poll(what, probe, { timeoutMs, intervalMs: 200, retryErrors: true });
}


export function serviceText(description: string, service: readonly string[], extra = ''): string {
  return `[Unit]\nDescription=${description}\n\n[Service]\n${service.join('\n')}\n${extra}`;
}

export function pinTo(machineId: string): string {
  return `\n[X-Fleet]\nMachineID=${machineId}\n`;
}

/** createUnit as fleetctl does it: canonical text and hash; the same name with new text replaces the unit. */
export async function submit(registry: Registry, name: string, text: string, desiredState: DesiredState = 'launched'): Promise<LoadedUnit> {
  const u = loadUnit(name, text);
  await registry.createUnit({ name, text: u.text, hash: u.hash, desiredState, global: false });
  return u;
}

/** `systemctl show` of a unit inside a machine, as key -> value. */
export async function show(lab: TestLab, machine: string, unit: string, props: readonly string[] = ['LoadState', 'ActiveState', 'SubState', 'MainPID']): Promise<Record<string, string>> {
  const r = await lab.exec(machine, ['systemctl', 'show', ...props.flatMap((p) => ['-p', p]), '--', unit]);
  if (r.code !== 0) throw new Error(`systemctl show ${unit} on ${machine}: exit ${r.code}: ${r.stderr.trim()}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Waits until the unit is active/running in the machine; returns its MainPID. */
export async function waitRunning(lab: TestLab, machine: string, unit: string, timeoutMs = 20_000): Promise<number> {
  return waitFor(`${unit} running on ${machine}`, async () => {
    const s = await show(lab, machine, unit);
    return s.ActiveState === 'active' && s.SubState === 'running' && Number(s.MainPID) > 0 ? Number(s.MainPID) : undefined;
  }, timeoutMs);
}

/** The unit state a machine published in etcd, if any. */
export async function publishedState(registry: Registry, unit: string, machineId: string): Promise<UnitState | undefined> {
  return (await registry.listUnitStates({ unitName: unit, machineId }))[0];
}

export async function fileExists(lab: TestLab, machine: string, path: string): Promise<boolean> {
  return (await lab.exec(machine, ['test', '-e', path])).code === 0;
}

export const UNITS_DIR = '/run/fleet/units';

/** GET on fleetd's API on the machine's unix socket (reached from the host); status 0 and `error` if nobody answers. */
export async function apiGet(lab: TestLab, machine: string, path: string, timeoutMs = 2000): Promise<{ status: number; body: string; error?: string }> {
  const m = await lab.machine(machine);
  if (m.initPid === undefined) return { status: 0, body: '', error: 'machine not running' };
  return new Promise((resolve) => {
    const req = request({ socketPath: `/proc/${m.initPid}/root/run/fleet.sock`, path, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ status: 0, body, error: err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, body: '', error: err.code ?? err.message }));
    req.on('timeout', () => {
      req.destroy();
      resolve({ status: 0, body: '', error: `no answer within ${timeoutMs} ms` });
    });
    req.end();
  });
}

/** HTTP status of fleetd's API on the machine, or 0 if nobody answers. */
export async function apiStatus(lab: TestLab, machine: string): Promise<number> {
  return (await apiGet(lab, machine, '/fleet/v1/machines')).status;
}

/** Waits until the machine's fleetd has registered and serves its API (200, not 503). */
export async function waitFleetdReady(lab: TestLab, machine: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`fleetd ready on ${machine}`, async () => ((await apiStatus(lab, machine)) === 200 ? true : undefined), timeoutMs);
}

/** Lines of fleet.service's journal on a machine that look like a stack trace or a non-JSON message from fleetd. */
export async function fleetdJournalProblems(lab: TestLab, machine: string): Promise<string[]> {
  const r = await lab.exec(machine, ['journalctl', '-u', 'fleet.service', '-o', 'cat', '--no-pager']);
  const j = await lab.exec(machine, ['journalctl', '-u', 'fleet.service', '-o', 'json', '--no-pager']);
  const fromFleetd = new Set<string>();
  for (const line of j.stdout.split('\n').filter(Boolean)) {
    try {
      const e = JSON.parse(line) as { MESSAGE?: unknown; _COMM?: unknown };
      if (e._COMM === 'node' && typeof e.MESSAGE === 'string') fromFleetd.add(e.MESSAGE);
    } catch {
      // a journal line that is not JSON is not fleetd's
    }
  }
  return r.stdout.split('\n').filter((l) => /^\s+at /.test(l) || (fromFleetd.has(l) && !l.startsWith('{')));
}
