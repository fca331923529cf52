/**
 * Turning a booted machine into a cluster member. Today: write /etc/fleet/fleet.conf and start
 * fleet.service. This is the step cloud-config will take over: swap `fleetBootstrap` for another
 * `MachineBootstrap`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectSystemd, type SystemdClient } from '../lib/systemd/index.js';
import { LabError } from './errors.js';
import { readMachineFile, writeMachineFile } from './overlay.js';

export interface BootstrapContext {
  readonly machine: { readonly name: string; readonly ip: string; readonly machineId: string; readonly metadata: string };
  /** the machine's system bus, reachable from the host */
  readonly busAddress: string;
  readonly etcdServers: readonly string[];
  readonly agentTtl?: string;
  /** the project directory on the host (it is PROJECT_MOUNT inside the machine) */
  readonly projectDir: string;
  /** write a file into the machine's root */
  writeFile(path: string, content: string): Promise<void>;
  readFile(path: string): Promise<string | undefined>;
}

export type MachineBootstrap = (ctx: BootstrapContext) => Promise<void>;

export const FLEET_CONF = '/etc/fleet/fleet.conf';
export const FLEET_UNIT = 'fleet.service';

export function fleetConf(ctx: BootstrapContext): string {
  const q = (v: string): string => `"${v.replace(/"/g, '')}"`;
  const lines = [
    '# written by fleet-lab',
    `etcd_servers=${q(ctx.etcdServers.join(','))}`,
    `public_ip=${q(ctx.machine.ip)}`,
    `metadata=${q(ctx.machine.metadata)}`,
  ];
  if (ctx.agentTtl) lines.push(`agent_ttl=${q(ctx.agentTtl)}`);
  return lines.join('\n') + '\n';
}

/** Write fleet.conf and fleet.service, then start fleet (restart it if its config changed). */
export const fleetBootstrap: MachineBootstrap = async (ctx) => {
  const unitPath = join(ctx.projectDir, 'units', FLEET_UNIT);
  let unit: string;
  try {
    unit = await readFile(unitPath, 'utf8');
  } catch (err) {
    throw new LabError(`cannot read ${unitPath}: ${(err as Error).message}`);
  }
  let changed = false;
  for (const [path, text] of [
    [FLEET_CONF, fleetConf(ctx)],
    [`/etc/systemd/system/${FLEET_UNIT}`, unit],
  ] as const) {
    if ((await ctx.readFile(path)) !== text) {
      await ctx.writeFile(path, text);
      changed = true;
    }
  }
  const systemd: SystemdClient = await connectSystemd(ctx.busAddress);
  try {
    if (changed) await systemd.reload();
    const state = await systemd.getUnitState(FLEET_UNIT);
    const running = state.activeState === 'active' || state.activeState === 'activating';
    const job = changed && running ? await systemd.restartUnit(FLEET_UNIT, { wait: true }) : await systemd.startUnit(FLEET_UNIT, { wait: true });
    if (job.result !== 'done') {
      throw new LabError(`${ctx.machine.name}: starting ${FLEET_UNIT} ended with "${job.result}"; see \`fleet-lab exec ${ctx.machine.name} -- journalctl -u fleet\``);
    }
  } finally {
    await systemd.close();
  }
};

export function machineFiles(root: string): Pick<BootstrapContext, 'writeFile' | 'readFile'> {
  return {
    writeFile: (path, content) => writeMachineFile(root, path, content),
    readFile: (path) => readMachineFile(root, path),
  };
}
