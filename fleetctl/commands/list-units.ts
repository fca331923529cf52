import { flagString, type CommandSpec } from '../command.js';
import { shortHash } from '../../lib/unit/hash.js';
import type { ApiMachine, ApiUnitState } from '../client/types.js';
import { machineLegend } from '../context.js';
import { listFlags, outputFormat, printJson, printTable, selectColumns, type Field } from '../fields.js';
import { reportFailure } from './report.js';

interface Row {
  state: ApiUnitState;
  machine?: ApiMachine;
}

const dash = (s: string | undefined): string => (s ? s : '-');

const FIELDS: Record<string, Field<Row>> = {
  unit: (r) => dash(r.state.name),
  load: (r) => dash(r.state.systemdLoadState),
  active: (r) => dash(r.state.systemdActiveState),
  sub: (r) => dash(r.state.systemdSubState),
  machine: (r, full) => (r.state.machineID ? machineLegend(r.state.machineID, r.machine, full) : '-'),
  hash: (r, full) => (r.state.hash ? (full ? r.state.hash : shortHash(r.state.hash)) : '-'),
  // ours: why the unit is not where or how it should be (Reschedule=on-failure, an agent's refusal)
  reason: (r) => dash(r.state.reschedule?.reason ?? r.state.refusal),
};

const DEFAULT_FIELDS = 'unit,machine,active,sub';

const NAMES = Object.keys(FIELDS).sort();

export const listUnits: CommandSpec = {
  name: 'list-units',
  usage: 'list-units [--no-legend] [-l|--full] [--fields]',
  summary: 'List the current state of units in the cluster',
  description: `Lists the state of all units in the cluster loaded onto a machine.

For easily parsable output, you can remove the column headers:
fleetctl list-units --no-legend

Output the list without ellipses:
fleetctl list-units --full

Or, choose the columns to display:
fleetctl list-units --fields=unit,machine`,
  flags: listFlags(NAMES, DEFAULT_FIELDS, 'Unit', true),
  needsClient: true,
  async run(ctx, _args, flags) {
    const cols = selectColumns(ctx.out, flags, FIELDS);
    const format = outputFormat(ctx.out, flags);
    if (!cols || !format) return 1;
    let states: ApiUnitState[];
    try {
      states = await ctx.client.unitStates();
    } catch (err) {
      return reportFailure(ctx, 'Error retrieving list of units from repository', err);
    }
    const rows: Row[] = [];
    for (const s of states) rows.push({ state: s, machine: s.machineID ? await ctx.machine(s.machineID) : undefined });
    if (format === 'json') {
      printJson(
        ctx.out,
        rows.map((r) => ({
          unit: r.state.name,
          machine: r.state.machineID ?? null,
          ip: r.machine?.primaryIP ?? null,
          load: r.state.systemdLoadState ?? null,
          active: r.state.systemdActiveState ?? null,
          sub: r.state.systemdSubState ?? null,
          hash: r.state.hash ?? null,
          ...(r.state.reschedule ? { reschedule: r.state.reschedule } : {}),
        })),
      );
      return 0;
    }
    // the default columns gain REASON only when a unit with Reschedule=on-failure failed somewhere
    const withReason = flagString(flags, 'fields') === DEFAULT_FIELDS && rows.some((r) => r.state.reschedule) ? [...cols, 'reason'] : cols;
    printTable(ctx.out, flags, withReason, FIELDS, rows);
    return 0;
  },
};
