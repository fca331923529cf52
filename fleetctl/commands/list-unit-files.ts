import type { CommandSpec } from '../command.js';
import { shortHash } from '../../lib/unit/hash.js';
import type { ApiMachine, ApiUnit } from '../client/types.js';
import { machineLegend } from '../context.js';
import { listFlags, outputFormat, printJson, printTable, selectColumns, type Field } from '../fields.js';
import { descriptionOf, hashOfOptions, isGlobalUnit } from '../unitfile.js';
import { reportFailure } from './report.js';

interface Row {
  unit: ApiUnit;
  global: boolean;
  hash: string;
  machine?: ApiMachine;
}

const target: Field<Row> = (r, full) => {
  if (r.global) return 'global';
  if (!r.unit.machineID) return '-';
  return machineLegend(r.unit.machineID, r.machine, full);
};

const FIELDS: Record<string, Field<Row>> = {
  unit: (r) => r.unit.name,
  global: (r) => String(r.global),
  dstate: (r) => r.unit.desiredState || '-',
  target,
  tmachine: target,
  state: (r) => (r.global || !r.unit.currentState ? '-' : r.unit.currentState),
  hash: (r, full) => (full ? r.hash : shortHash(r.hash)),
  desc: (r) => descriptionOf(r.unit.options) || '-',
};

const NAMES = Object.keys(FIELDS).sort();

export const listUnitFiles: CommandSpec = {
  name: 'list-unit-files',
  usage: 'list-unit-files [--fields]',
  summary: 'List the units that exist in the cluster.',
  description: 'Lists all unit files that exist in the cluster (whether or not they are loaded onto a machine).',
  flags: listFlags(NAMES, 'unit,hash,dstate,state,target', 'Unit file', false),
  needsClient: true,
  async run(ctx, _args, flags) {
    const cols = selectColumns(ctx.out, flags, FIELDS);
    const format = outputFormat(ctx.out, flags);
    if (!cols || !format) return 1;
    if (cols.includes('tmachine')) ctx.out.err('WARNING: The "tmachine" field is deprecated. Use "target" instead');
    let units: ApiUnit[];
    try {
      units = await ctx.client.units();
    } catch (err) {
      return reportFailure(ctx, 'Error retrieving list of units from repository', err);
    }
    const rows: Row[] = [];
    for (const u of units) {
      const global = isGlobalUnit(u.options);
      rows.push({
        unit: u,
        global,
        hash: hashOfOptions(u.options),
        machine: !global && u.machineID ? await ctx.machine(u.machineID) : undefined,
      });
    }
    if (format === 'json') {
      printJson(
        ctx.out,
        rows.map((r) => ({
          unit: r.unit.name,
          hash: r.hash,
          global: r.global,
          dstate: r.unit.desiredState ?? null,
          state: r.global ? null : (r.unit.currentState ?? null),
          target: r.global ? null : (r.unit.machineID ?? null),
          ip: r.machine?.primaryIP ?? null,
          desc: descriptionOf(r.unit.options) || null,
        })),
      );
      return 0;
    }
    printTable(ctx.out, flags, cols, FIELDS, rows);
    return 0;
  },
};
