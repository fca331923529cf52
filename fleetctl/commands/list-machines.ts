import type { CommandSpec } from '../command.js';
import { EndpointError } from '../client/errors.js';
import type { ApiMachine } from '../client/types.js';
import { shortMachineId } from '../context.js';
import { listFlags, outputFormat, printJson, printTable, selectColumns, type Field } from '../fields.js';
import { errorMessage } from '../../lib/errors.js';

/** fleet's formatMetadata: `k=v` pairs sorted by key, comma-joined. */
export function formatMetadata(md: Readonly<Record<string, string>>): string {
  return Object.keys(md)
    .sort()
    .map((k) => `${k}=${md[k]}`)
    .join(',');
}

const FIELDS: Record<string, Field<ApiMachine>> = {
  machine: (m, full) => (full ? m.id : shortMachineId(m.id)),
  ip: (m) => m.primaryIP || '-',
  metadata: (m) => (m.metadata && Object.keys(m.metadata).length > 0 ? formatMetadata(m.metadata) : '-'),
};

export const listMachines: CommandSpec = {
  name: 'list-machines',
  usage: 'list-machines [-l|--full] [--no-legend]',
  summary: 'Enumerate the current hosts in the cluster',
  description: `Lists all active machines within the cluster. Previously active machines will not appear in this list.

For easily parsable output, you can remove the column headers:
fleetctl list-machines --no-legend

Output the list without truncation:
fleetctl list-machines --full`,
  flags: listFlags(Object.keys(FIELDS), 'machine,ip,metadata', 'Machine', true),
  needsClient: true,
  async run(ctx, _args, flags) {
    const cols = selectColumns(ctx.out, flags, FIELDS);
    const format = outputFormat(ctx.out, flags);
    if (!cols || !format) return 1;
    let machines: ApiMachine[];
    try {
      machines = await ctx.client.machines();
    } catch (err) {
      if (err instanceof EndpointError) throw err;
      ctx.out.err(`Error retrieving list of active machines from fleet API (${errorMessage(err)})`);
      ctx.out.err('Possible issues:');
      ctx.out.err('  etcd is unhealthy and/or lost quorum');
      ctx.out.err('  connection cannot be established to any etcd servers');
      return 1;
    }
    if (format === 'json') {
      printJson(
        ctx.out,
        machines.map((m) => ({ machine: m.id, ip: m.primaryIP || null, metadata: m.metadata ?? {} })),
      );
      return 0;
    }
    printTable(ctx.out, flags, cols, FIELDS, machines);
    return 0;
  },
};
