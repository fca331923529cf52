import { flagBool, type CommandSpec } from '../command.js';
import type { ApiUnitOption, PlanResponse, PlanUnitRequest } from '../client/types.js';
import { machineLegend, type CommandContext } from '../context.js';
import { checkLocalFiles, passThrough, unitFileFor } from '../create.js';
import { FleetctlError } from '../errors.js';
import { outputFormat, printJson } from '../fields.js';
import { tabwrite } from '../tabwriter.js';
import { mangleName, optionsFromText, withDefaultType } from '../unitfile.js';
import { reportFailure } from './report.js';
import { errorMessage } from '../../lib/errors.js';

/** The unit as it would be submitted: local file first, else the stored unit, else its template. */
async function requestFor(ctx: CommandContext, raw: string): Promise<PlanUnitRequest> {
  const arg = withDefaultType(raw);
  const name = mangleName(arg);
  let text: string | Uint8Array | undefined;
  try {
    text = ctx.files.read(arg);
  } catch (err) {
    throw new FleetctlError(`failed getting Unit(${arg}) from file: ${errorMessage(err)}`);
  }
  if (text !== undefined) {
    let options: ApiUnitOption[];
    try {
      options = optionsFromText(text, arg);
    } catch (err) {
      throw new FleetctlError(`failed getting Unit(${arg}) from file: ${errorMessage(err)}`);
    }
    return { name, options };
  }
  if (await ctx.client.unit(name)) return { name };
  return { name, options: await unitFileFor(ctx, arg, { command: 'plan', replace: false, blockAttempts: 0 }, raw) };
}

async function legend(ctx: CommandContext, id: string | undefined, full: boolean): Promise<string> {
  return id ? machineLegend(id, await ctx.machine(id), full) : '-';
}

async function render(ctx: CommandContext, p: PlanResponse, full: boolean, explainAll: boolean, noLegend: boolean): Promise<string> {
  const lines: string[] = noLegend ? [] : ['UNIT\tMACHINE\tOUTCOME'];
  for (const u of p.units) lines.push(`${u.unit}\t${await legend(ctx, u.machineId, full)}\t${u.outcome}`);
  let text = tabwrite(lines.join('\n') + '\n');
  for (const u of p.units) {
    if (!explainAll && u.machineId !== undefined) continue;
    if (u.machines.length === 0) {
      text += `\n${u.unit}: no machines in the cluster\n`;
      continue;
    }
    const rows = ['\tMACHINE\tLOAD\tVERDICT'];
    for (const m of u.machines) rows.push(`\t${await legend(ctx, m.machineId, full)}\t${m.load}\t${m.reason}`);
    text += `\n${u.unit}:\n` + tabwrite(rows.join('\n') + '\n');
  }
  const asked = new Set(p.units.map((u) => u.unit));
  const others = p.ops.filter((o) => !asked.has(o.unit));
  if (others.length > 0) {
    text += '\nOther changes the engine would make:\n';
    for (const o of others) {
      if (o.kind === 'place') text += `\tplace ${o.unit} on ${await legend(ctx, o.machineId, full)}: ${o.reason}\n`;
      else if (o.kind === 'move') text += `\tmove ${o.unit} from ${await legend(ctx, o.from, full)} to ${await legend(ctx, o.to, full)}: ${o.reason}\n`;
      else text += `\tunschedule ${o.unit} from ${await legend(ctx, o.from, full)}: ${o.reason}\n`;
    }
  }
  const stuck = p.pending.filter((x) => !asked.has(x.unit));
  if (stuck.length > 0) {
    text += '\nOther units that would stay unscheduled:\n';
    for (const x of stuck) text += `\t${x.unit}: ${x.reason}\n`;
  }
  return text;
}

export const planCommand: CommandSpec = {
  name: 'plan',
  usage: 'plan [--explain] [-l|--full] UNIT...',
  summary: 'Show where units would be scheduled, and why others cannot be placed (dry run).',
  description: `Asks the scheduler where the given units would run if they were started now,
without changing anything. Units are read like start reads them: a local file,
else the unit already submitted, else its template.

For units that cannot be placed, every machine is listed with the reason it
cannot take the unit. --explain lists the machines for every unit.

Plan a unit file before starting it:
fleetctl plan web@1.service web@2.service

Exit status: 0 when every unit can be placed, 3 when some cannot, 1 on errors.`,
  flags: {
    explain: { type: 'boolean', default: false, describe: 'Show the verdict of every machine for every unit' },
    full: { type: 'boolean', default: false, alias: 'l', describe: 'Do not ellipsize machine IDs' },
    'no-legend': { type: 'boolean', default: false, describe: 'Do not print a legend (column headers)' },
    output: { type: 'string', default: 'table', describe: 'Output format: table or json' },
  },
  needsClient: true,
  async run(ctx, args, flags) {
    const format = outputFormat(ctx.out, flags);
    if (!format) return 1;
    if (args.length === 0) {
      ctx.out.err('No units given');
      return 0;
    }
    let result: PlanResponse;
    try {
      checkLocalFiles(ctx, args);
      const requests: PlanUnitRequest[] = [];
      for (const a of args) requests.push(await requestFor(ctx, a));
      result = await ctx.client.plan(requests);
    } catch (err) {
      passThrough(err);
      return reportFailure(ctx, 'Error planning units', err);
    }
    if (format === 'json') printJson(ctx.out, result);
    else ctx.out.write(await render(ctx, result, flagBool(flags, 'full'), flagBool(flags, 'explain'), flagBool(flags, 'no-legend')));
    return result.units.every((u) => u.machineId !== undefined || u.outcome.startsWith('global')) ? 0 : 3;
  },
};
