/**
 * Fills an etcd with what a cluster of N launched units leaves there, without running one: for every unit its text,
 * its job keys (object, target-state, target), its schedule entry and its unit state, plus the machines' objects, all
 * with the registry's own key layout (Keyspace) and encoders. Lets whole-tree reads and an engine's new term be
 * measured at 100,000 units in a minute instead of the 10-minute throughput-100k run (bench/scale-reads.ts).
 * `node dist/bench/fill-units.js <endpoint> [units] [machines]` fills an etcd that is already running.
 */
import type { Etcd3, IRequestOp } from 'etcd3';
import { encodeJobObject, encodeMachineState, encodeScheduleEntry, encodeUnitState } from '../lib/registry/codec.js';
import { op } from '../lib/registry/etcd.js';
import { Keyspace } from '../lib/registry/keys.js';
import { openEtcd } from '../lib/registry/index.js';
import { eachLimited } from '../lib/limit.js';
import { BenchError } from './errors.js';
import { benchUnit, unitName } from './units.js';

/** Puts per transaction: below etcd's default --max-txn-ops (128). */
const PUTS_PER_TXN = 120;
const TXNS_IN_FLIGHT = 16;

export interface FillOptions {
  readonly units: number;
  readonly machines: number;
  /** unit names are `<namePrefix>-<i>.service` (bench/units.ts) */
  readonly namePrefix?: string;
  readonly keyPrefix?: string;
}

/** The machine id of machine `i` (as the hollow fleet names them). */
export function fillMachineId(i: number): string {
  return `hollow-${String(i).padStart(5, '0')}`;
}

/** Writes the keys of `units` launched units spread round-robin over `machines` machines. Returns the keys written. */
export async function fillUnits(client: Etcd3, opts: FillOptions): Promise<number> {
  const k = new Keyspace(opts.keyPrefix);
  const puts: IRequestOp[] = [];
  for (let m = 0; m < opts.machines; m++) {
    const id = fillMachineId(m);
    puts.push(op.put(k.machineObject(id), encodeMachineState({ id, publicIP: `10.0.${m >> 8}.${m & 255}`, metadata: {}, version: 'fill', disableEngine: true })));
  }
  for (let i = 0; i < opts.units; i++) {
    const u = benchUnit(unitName(opts.namePrefix ?? 'fill', i));
    const machineId = fillMachineId(i % opts.machines);
    puts.push(
      op.put(k.unit(u.hash), u.text),
      op.put(k.jobObject(u.name), encodeJobObject({ name: u.name, hash: u.hash, global: false })),
      op.put(k.jobTargetState(u.name), 'launched'),
      op.put(k.jobTarget(u.name), machineId),
      op.put(k.schedule(machineId, u.name), encodeScheduleEntry({ hash: u.hash, desiredState: 'launched' })),
      op.put(
        k.unitState(u.name, machineId),
        encodeUnitState({ name: u.name, machineId, hash: u.hash, loadState: 'loaded', activeState: 'active', subState: 'running', agentState: 'launched' }),
      ),
    );
  }
  const batches: IRequestOp[][] = [];
  for (let i = 0; i < puts.length; i += PUTS_PER_TXN) batches.push(puts.slice(i, i + PUTS_PER_TXN));
  await eachLimited(batches, TXNS_IN_FLIGHT, (success) => client.kv.txn({ compare: [], success, failure: [] }));
  return puts.length;
}

async function main(argv: string[]): Promise<void> {
  const [endpoint, units = '100000', machines = '1000'] = argv;
  if (!endpoint) throw new BenchError('usage: fill-units <etcd endpoint> [units] [machines]');
  const client = openEtcd({ endpoints: [endpoint], requestTimeoutMs: 30_000 });
  const t0 = Date.now();
  const n = await fillUnits(client, { units: Number(units), machines: Number(machines) });
  process.stdout.write(`${n} keys written in ${Date.now() - t0} ms\n`);
  client.close();
}

if (process.argv[1]?.endsWith('fill-units.js')) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
