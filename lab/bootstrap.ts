/**
 * Turning a booted machine into a cluster member. The default, `cloudConfigBootstrap`, does it as on a
 * CoreOS host: the machine gets a `#cloud-config` user-data and runs coreos-cloudinit on it.
 * `fleetBootstrap` skips cloud-config (writes fleet.conf and fleet.service itself): for telling a
 * cloud-config problem from a fleet one (`new Lab({ bootstrap: fleetBootstrap })`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectSystemd, type SystemdClient } from '../lib/systemd/index.js';
import { API_PORT } from './endpoint.js';
import { LabError } from './errors.js';
import { PROJECT_MOUNT } from './names.js';
import { readMachineFile, writeMachineFile } from './overlay.js';
import type { RunResult } from './run.js';
import { FLEET_CONF, labUserData, USER_DATA_PATH } from './user-data.js';
import type { LabEtcdClient } from './etcd-cluster.js';
import { errorMessage } from '../lib/errors.js';

export { FLEET_CONF, USER_DATA_PATH };

/** Runs argv inside the machine (as `fleet-lab exec` does); never throws for a non-zero exit. */
export type MachineExec = (argv: readonly string[], opts?: { readonly timeoutMs?: number }) => Promise<RunResult>;

export interface BootstrapContext {
  readonly machine: { readonly name: string; readonly ip: string; readonly machineId: string; readonly metadata: string };
  /** the machine's system bus, reachable from the host */
  readonly busAddress: string;
  readonly etcdServers: readonly string[];
  /** TLS client files and credentials for etcd (`up --etcd-tls/--etcd-auth`); the cloud-config bootstrap only */
  readonly etcdClient?: LabEtcdClient;
  readonly agentTtl?: string;
  /** the project directory on the host (it is PROJECT_MOUNT inside the machine) */
  readonly projectDir: string;
  /** write a file into the machine's root */
  writeFile(path: string, content: string): Promise<void>;
  readFile(path: string): Promise<string | undefined>;
  /** the cluster's name, for messages */
  readonly cluster?: string;
  /** the machine's directory in the state dir: the lab keeps its copy of the user-data there */
  readonly machineDir?: string;
  /** needed by cloudConfigBootstrap */
  readonly exec?: MachineExec;
  /** host path of the machine's root (its overlay mount) */
  readonly machineRoot?: string;
  /** public keys for user core (lab/ssh.ts) */
  readonly sshAuthorizedKeys?: readonly string[];
}

export type MachineBootstrap = (ctx: BootstrapContext) => Promise<void>;

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

async function fleetUnitText(projectDir: string): Promise<string> {
  const unitPath = join(projectDir, 'units', FLEET_UNIT);
  try {
    return await readFile(unitPath, 'utf8');
  } catch (err) {
    throw new LabError(`cannot read ${unitPath}: ${errorMessage(err)}`);
  }
}

/** Write fleet.conf and fleet.service, then start fleet (restart it if its config changed). */
export const fleetBootstrap: MachineBootstrap = async (ctx) => {
  const unit = await fleetUnitText(ctx.projectDir);
  let changed = false;
  for (const [path, text] of [
    [FLEET_CONF, `${fleetConf(ctx)}api_listen="${ctx.machine.ip}:${API_PORT}"\n`],
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

export const CLOUDINIT = `${PROJECT_MOUNT}/dist/cloud-config/main.js`;

const CLOUDINIT_EXIT: Readonly<Record<number, string>> = {
  1: 'the document is invalid or unreadable; nothing was changed',
  2: 'bad usage',
  3: 'applying it failed',
};

/** The command line the lab runs inside the machine. */
export function cloudInitArgv(ip: string): string[] {
  return ['node', CLOUDINIT, '--from-file', USER_DATA_PATH, '--private-ipv4', ip, '--public-ipv4', ip];
}

/**
 * Write the machine's user-data (into the machine and into its state dir) and run coreos-cloudinit on it
 * inside the machine. A fleetd that was already running is restarted when the document changed something
 * (its FLEET_* variables are read at start only), so a re-up with new metadata or agent_ttl takes effect.
 */
export const cloudConfigBootstrap: MachineBootstrap = async (ctx) => {
  const { name, ip } = ctx.machine;
  if (!ctx.exec) throw new LabError(`${name}: the cloud-config bootstrap needs a way to run commands inside the machine`);
  const exec = ctx.exec;
  const doc = labUserData({
    cluster: ctx.cluster ?? '?',
    machine: name,
    etcdServers: ctx.etcdServers,
    ...(ctx.etcdClient ? { etcdClient: ctx.etcdClient } : {}),
    metadata: ctx.machine.metadata,
    agentTtl: ctx.agentTtl,
    fleetUnit: await fleetUnitText(ctx.projectDir),
    sshAuthorizedKeys: ctx.sshAuthorizedKeys,
  });
  if ((await ctx.readFile(USER_DATA_PATH)) !== doc) await ctx.writeFile(USER_DATA_PATH, doc);
  const copy = ctx.machineDir ? join(ctx.machineDir, 'user-data') : undefined;
  if (copy) await writeFile(copy, doc);

  const wasActive = (await exec(['systemctl', 'is-active', '--quiet', FLEET_UNIT])).code === 0;
  const argv = cloudInitArgv(ip);
  const r = await exec(argv, { timeoutMs: 120_000 });
  const cli = `fleet-lab${ctx.cluster ? ` --name ${ctx.cluster}` : ''}`;
  if (r.code !== 0) {
    const output = [r.stderr.trim(), r.stdout.trim()].filter((x) => x !== '').join('\n') || '(no output)';
    throw new LabError(
      [
        `cloud-config on ${name} failed (exit ${r.code}: ${CLOUDINIT_EXIT[r.code] ?? 'unexpected'}):`,
        indent(output),
        `user-data: ${copy ?? USER_DATA_PATH} (${USER_DATA_PATH} in ${name})`,
        `run it again: ${cli} exec ${name} -- ${argv.join(' ')}`,
      ].join('\n'),
    );
  }
  const changed = Number(/^(\d+) changed,/m.exec(r.stdout)?.[1] ?? '0');
  if (wasActive && changed > 0) {
    const restart = await exec(['systemctl', 'restart', FLEET_UNIT], { timeoutMs: 60_000 });
    if (restart.code !== 0) {
      throw new LabError(
        `${name}: restarting ${FLEET_UNIT} for its new configuration failed: ${restart.stderr.trim() || `exit ${restart.code}`}; ` +
          `see \`${cli} exec ${name} -- journalctl -u fleet\``,
      );
    }
  }
};

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
