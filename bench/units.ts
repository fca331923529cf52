/** Unit files for benchmarks and their submission, as fleetctl submits them (canonical text, hash). */
import { loadUnit, type DesiredState } from '../lib/unit/index.js';
import { EtcdRequestError, type Registry, type UnitSpec } from '../lib/registry/index.js';
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

export interface SubmitResult {
  readonly ms: number;
  /** submissions repeated after a transient etcd error (timeout, open circuit breaker), as a user would */
  readonly retries: number;
}

/**
 * Submits units with `concurrency` requests in flight, retrying transient etcd errors up to 10 times each;
 * `onSubmitted` is told when each unit's createUnit succeeded (Date.now()).
 */
export async function submitAll(
  registry: Registry,
  specs: readonly UnitSpec[],
  concurrency: number,
  onSubmitted?: (name: string, at: number) => void,
): Promise<SubmitResult> {
  const started = Date.now();
  let retries = 0;
  const submit = async (s: UnitSpec): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await registry.createUnit(s);
        onSubmitted?.(s.name, Date.now());
        return;
      } catch (err) {
        if (!(err instanceof EtcdRequestError && err.transient) || attempt >= 10) throw err;
        retries++;
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  };
  await runLimited(
    specs.map((s) => () => submit(s)),
    concurrency,
  );
  return { ms: Date.now() - started, retries };
}
