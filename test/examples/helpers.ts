/** fleetctl against a lab cluster, as a user runs it, and its table output read back into rows. */
import { fileURLToPath } from 'node:url';
import { fleetctl, type Run } from '../fleetctl/helpers.js';
import type { MachineInfo, TestLab } from '../harness/lab.js';

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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `probe` returns a value; the error says what was awaited and what was last seen. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(500);
  }
}
