/** Unit files for benchmarks and their submission, as fleetctl submits them (canonical text, hash). */
import { loadUnit, type DesiredState } from '../lib/unit/index.js';
import type { Registry, UnitSpec } from '../lib/registry/index.js';
import { runLimited } from './hollow/fleet.js';

export function unitName(prefix: string, i: number): string {
  return `${prefix}-${i}.service`;
}

/** A distinct service per unit (its own text and hash, as real units mostly are), with optional [X-Fleet] lines. */
export function benchUnit(name: string, xfleet: readonly string[] = [], exec = `/bin/sleep 1000000`): UnitSpec & { desiredState: DesiredState } {
  const text =
    `[Unit]\nDescription=benchmark unit ${name}\n\n[Service]\nExecStart=${exec}\n` +
    (xfleet.length > 0 ? `\n[X-Fleet]\n${xfleet.join('\n')}\n` : '');
  const u = loadUnit(name, text);
  return { name, text: u.text, hash: u.hash, desiredState: 'launched', global: false };
}

/** Submits units with `concurrency` requests in flight; returns the wall time in ms. */
export async function submitAll(registry: Registry, specs: readonly UnitSpec[], concurrency: number): Promise<number> {
  const started = Date.now();
  await runLimited(
    specs.map((s) => () => registry.createUnit(s)),
    concurrency,
  );
  return Date.now() - started;
}
