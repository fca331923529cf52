/** fleetctl against a lab cluster, as a user runs it, and its table output read back into rows. */
import { fileURLToPath } from 'node:url';
import { fleetctl, type Run } from '../fleetctl/helpers.js';
import type { MachineInfo, TestLab } from '../harness/lab.js';
import { waitFor } from '../harness/wait.js';

export { sleep } from '../harness/wait.js';

/** units/examples in the source tree: fleetctl finds unit files (and templates) in its working directory. */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../../units/examples', import.meta.url));

export type { Run };

/** `fleetctl args...` with the lab's FLEETCTL_* environment, run in units/examples. */
export function labFleetctl(lab: TestLab, env: Readonly<Record<string, string>> = lab.env) {
  return (...args: string[]): Promise<Run> => fleetctl(args, { env: { ...env }, cwd: EXAMPLES_DIR, timeoutMs: 120_000 });
}

/** Rows of a table printed with --no-legend: whitespace-separated columns. */
export function rows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/));
}

export interface UnitRow {
  readonly unit: string;
  /** lab machine name (m1, ...) the unit runs on */
  readonly machine: string;
  readonly active: string;
  readonly sub: string;
}

/** `fleetctl list-units --full --no-legend`, with machines named as the lab names them. */
export async function listUnits(run: (...a: string[]) => Promise<Run>, machines: readonly MachineInfo[]): Promise<UnitRow[]> {
  const r = await run('list-units', '--full', '--no-legend', '--fields=unit,machine,active,sub');
  if (r.code !== 0) throw new Error(`fleetctl list-units: exit ${r.code}: ${r.stderr}`);
  return rows(r.stdout).map(([unit, legend, active, sub]) => {
    const [id, ip] = (legend ?? '').split('/');
    const m = machines.find((x) => x.machineId === id && x.ip === ip);
    return { unit: unit!, machine: m?.name ?? `?${legend}`, active: active!, sub: sub! };
  });
}

/** Polls every 500 ms until `probe` returns a value (up to 60 s by default); a probe that throws is retried. */
export function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  return waitFor(what, probe, { timeoutMs, intervalMs: 500, retryErrors: true });
}
