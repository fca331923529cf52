/**
 * `fleetctl import --from ENDPOINT`: the migration path from a running fleet v1 cluster (issue 14). Reads every
 * unit of the old cluster through its HTTP API (fleet v1's own, or any server of the same wire format: this
 * project's fleetd too) and recreates each here with its contents and desired state, through this fleetctl's
 * driver. Reports per unit what happened and what could not be carried over; never changes the old cluster and
 * never replaces a unit that already exists here with other contents.
 *
 * Decided: the old cluster is read through its API only (its etcd v2 keyspace is fleet's private format; the API
 * is what fleet v1 guaranteed and is served on every machine, /var/run/fleet.sock). Where units ran is not carried
 * over: this cluster's engine places them again by their [X-Fleet] options. Machine metadata is not carried over:
 * it belongs to each machine's own configuration.
 */
import { compareStrings } from '../../lib/compare.js';
import { UsageError, errorMessage } from '../../lib/errors.js';
import { flagBool, flagNumber, flagString, SECONDS_RANGE, type CommandSpec } from '../command.js';
import { parseApiEndpoint } from '../client/endpoint.js';
import { HttpFleetClient } from '../client/http.js';
import type { ApiUnit, FleetClient } from '../client/types.js';
import { hashOfOptions } from '../unitfile.js';
import { reportFailure } from './report.js';

export type ImportOutcome = 'imported' | 'unchanged' | 'skipped';

export interface ImportResult {
  readonly name: string;
  readonly outcome: ImportOutcome;
  /** imported: the desired state set; skipped: why */
  readonly detail: string;
}

/** What importing `source` into `target` does, unit by unit in name order; writes nothing when `dryRun`. */
export async function importUnits(source: readonly ApiUnit[], target: FleetClient, dryRun: boolean): Promise<ImportResult[]> {
  const existing = new Map((await target.units()).map((u) => [u.name, u]));
  const results: ImportResult[] = [];
  for (const unit of [...source].sort((a, b) => compareStrings(a.name, b.name))) {
    const desired = unit.desiredState || 'inactive';
    const here = existing.get(unit.name);
    if (here) {
      results.push(
        hashOfOptions(here.options) === hashOfOptions(unit.options)
          ? { name: unit.name, outcome: 'unchanged', detail: `already here with the same contents (${here.desiredState || 'inactive'})` }
          : { name: unit.name, outcome: 'skipped', detail: 'a unit of this name with other contents exists here; destroy it first to import this one' },
      );
      continue;
    }
    if (dryRun) {
      results.push({ name: unit.name, outcome: 'imported', detail: desired });
      continue;
    }
    try {
      await target.createUnit({ name: unit.name, options: unit.options, desiredState: desired });
      results.push({ name: unit.name, outcome: 'imported', detail: desired });
    } catch (err) {
      results.push({ name: unit.name, outcome: 'skipped', detail: errorMessage(err) });
    }
  }
  return results;
}

export const importCommand: CommandSpec = {
  name: 'import',
  usage: 'import --from ENDPOINT [--dry-run]',
  summary: 'Copy the units of another fleet cluster (such as fleet v1) into this one.',
  description: `Reads every unit of another fleet cluster through its HTTP API and creates each one here with
the same contents and desired state. Units already here with the same contents are left alone; a unit here
with other contents is never replaced (destroy it first). Nothing is changed in the other cluster.

Not carried over: where units ran (this cluster places them again by their [X-Fleet] options) and machine
metadata (set it in each machine's configuration). The exit status is 1 when any unit was skipped.

Import from a fleet v1 machine's API socket (run on that machine) or its TCP API:
fleetctl import --from unix:///var/run/fleet.sock
fleetctl import --from http://10.0.0.5:49153 --dry-run`,
  flags: {
    from: { type: 'string', describe: 'API endpoint of the cluster to read (unix:///path or http(s)://host:port)', default: '' },
    'from-timeout': { type: 'number', describe: 'seconds to wait for each answer of that cluster', default: 10, range: SECONDS_RANGE },
    'dry-run': { type: 'boolean', describe: 'show what would be imported; create nothing', default: false },
  },
  needsClient: true,
  async run(ctx, args, flags) {
    const from = flagString(flags, 'from');
    if (from === '') throw new UsageError('import needs --from ENDPOINT: the API of the cluster to copy from');
    if (args.length > 0) throw new UsageError(`import takes no arguments, got ${JSON.stringify(args[0])}`);
    const dryRun = flagBool(flags, 'dry-run');
    const { endpoint } = parseApiEndpoint(from);
    const source = new HttpFleetClient({ endpoint, requestTimeoutMs: flagNumber(flags, 'from-timeout', 10) * 1000 });
    let units: ApiUnit[];
    try {
      units = await source.units();
    } catch (err) {
      return reportFailure(ctx, `Error reading the units of ${endpoint.display}`, err);
    } finally {
      await source.close();
    }
    let results: ImportResult[];
    try {
      results = await importUnits(units, ctx.client, dryRun);
    } catch (err) {
      return reportFailure(ctx, 'Error importing units', err);
    }
    const verb = dryRun ? 'Would import' : 'Imported';
    for (const r of results) {
      if (r.outcome === 'imported') ctx.out.out(`${verb} ${r.name} (${r.detail})`);
      else if (r.outcome === 'unchanged') ctx.out.out(`Unchanged ${r.name}: ${r.detail}`);
      else ctx.out.err(`Skipped ${r.name}: ${r.detail}`);
    }
    const count = (o: ImportOutcome): number => results.filter((r) => r.outcome === o).length;
    ctx.out.out(`${count('imported')} ${dryRun ? 'to import' : 'imported'}, ${count('unchanged')} unchanged, ${count('skipped')} skipped, from ${endpoint.display}`);
    return count('skipped') > 0 ? 1 : 0;
  },
};
