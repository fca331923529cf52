#!/usr/bin/env node
/** fleet-lab: a local multi-machine cluster (systemd-nspawn machines, etcd, optional Docker) on one box. */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { FleetError } from '../lib/errors.js';
import { BOOT_SOURCES, parseBootFrom, parseInitArgs, type MachineBoot } from './boot.js';
import { Lab, MACHINE_ENV, type MachineInfo } from './cluster.js';
import { machineIndex } from './names.js';
import { DEFAULT_CLUSTER } from './names.js';
import { FLEET_FLAVORS, type FleetFlavor } from './fleet-v1.js';
import { sshHints } from './ssh.js';
import { formatTable } from './table.js';

interface GlobalArgs {
  name: string;
  'state-dir'?: string;
  'project-dir'?: string;
}

function labOf(a: GlobalArgs): Lab {
  return new Lab({ name: a.name, stateDir: a['state-dir'], projectDir: a['project-dir'] });
}

async function machineTable(lab: Lab, machines: readonly MachineInfo[]): Promise<string> {
  const rows = [];
  for (const m of machines) {
    rows.push([
      m.name,
      m.machineId,
      m.ip,
      m.initPid === undefined ? '-' : String(m.initPid),
      m.running ? 'running' : 'off',
      m.cut ? 'cut' : 'ok',
      await lab.fleetState(m.name),
      m.metadata || '-',
    ]);
  }
  return formatTable(['MACHINE', 'MACHINE-ID', 'IP', 'PID', 'STATE', 'NET', 'FLEET', 'METADATA'], rows);
}

function parseMetadata(specs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const i = spec.indexOf(':');
    if (i <= 0) throw new FleetError(`--metadata ${JSON.stringify(spec)}: expected MACHINE:k=v,k2=v2 (e.g. m1:role=web,az=1)`);
    out[spec.slice(0, i)] = spec.slice(i + 1);
  }
  return out;
}

/** --bare, --boot-from and --init-args as per-machine boot options (only the machines named). */
function bootOptions(bare: readonly string[], from: readonly string[], initArgs: readonly string[]): Record<string, Partial<MachineBoot>> {
  const out: Record<string, { bare?: boolean; from?: MachineBoot['from']; initArgs?: string[] }> = {};
  for (const m of bare) {
    machineIndex(m);
    (out[m] ??= {}).bare = true;
  }
  for (const [m, source] of Object.entries(parseBootFrom(from))) (out[m] ??= {}).from = source;
  for (const [m, args] of Object.entries(parseInitArgs(initArgs))) (out[m] ??= {}).initArgs = args;
  return out;
}

/** Run a command with our stdio; resolves with its exit status (128+n for signal n). */
function passthrough(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env: MACHINE_ENV });
    child.on('error', reject);
    child.on('close', (code, sig) => resolve(code ?? 128 + (sig ? constants.signals[sig] : 0)));
  });
}

const machineArg = <T>(y: Argv<T>) =>
  y.positional('machine', { type: 'string', demandOption: true, describe: 'machine name, e.g. m1' });

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('fleet-lab')
    .parserConfiguration({ 'populate--': true })
    .option('name', {
      type: 'string',
      default: process.env.FLEET_LAB_NAME ?? DEFAULT_CLUSTER,
      describe: 'cluster name (env FLEET_LAB_NAME); several clusters can coexist',
    })
    .option('state-dir', {
      type: 'string',
      default: process.env.FLEET_LAB_STATE_DIR,
      defaultDescription: '/var/lib/fleet-lab/<name>',
      describe: 'where the cluster keeps its state (env FLEET_LAB_STATE_DIR)',
    })
    .option('project-dir', {
      type: 'string',
      default: process.env.FLEET_LAB_PROJECT_DIR,
      defaultDescription: 'this checkout',
      describe: 'directory bound read-only at /opt/fleet in machines (env FLEET_LAB_PROJECT_DIR)',
    })
    .command(
      'up',
      'create the cluster, or add what is missing to it',
      (y) =>
        y
          .option('machines', { alias: 'n', type: 'number', default: 1, describe: 'machines m1..mN' })
          .option('metadata', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: "fleet metadata of a machine, repeatable: 'm1:role=web,az=1'",
          })
          .option('docker', { type: 'boolean', default: false, describe: 'start a Docker engine machines can use' })
          .option('agent-ttl', { type: 'string', describe: "fleet's agent_ttl, e.g. 3s" })
          .option('fleet', { type: 'boolean', default: true, describe: 'configure and start fleet.service (--no-fleet: do not)' })
          .option('bare', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'boot this machine with nothing of ours: no /opt/fleet, no bootstrap (repeatable: --bare m2)',
          })
          .option('boot-from', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: `the machine gets its user-data at boot from ${BOOT_SOURCES.join('|')} (repeatable: --boot-from m2:metadata)`,
          })
          .option('init-args', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: "extra kernel command line of a machine (repeatable: 'm3:systemd.log_level=debug')",
          })
          .option('ssh-key', {
            type: 'string',
            describe: "public key file machines authorize for user core (kept for the cluster; default: a key pair fleet-lab generates in <state>/ssh)",
          })
          .option('flavor', {
            type: 'string',
            choices: FLEET_FLAVORS,
            describe: "which fleetd fleet.service runs: ours, or fleet-v1 (real fleet v1.0.0 from FLEET_V1_DIR)",
          })
          .option('etcd-members', { type: 'number', describe: 'run etcd as a cluster of N members (1..5) on the bridge' })
          .option('etcd-tls', { type: 'boolean', describe: "etcd clients need a certificate of the cluster's throwaway CA" })
          .option('etcd-auth', { type: 'boolean', describe: 'etcd auth on: root user, and a fleet user limited to fleet\'s keys' }),
      async (a) => {
        const lab = labOf(a);
        const r = await lab.up({
          machines: a.machines,
          metadata: parseMetadata(a.metadata),
          docker: a.docker,
          agentTtl: a['agent-ttl'],
          fleet: a.fleet,
          boot: bootOptions(a.bare, a['boot-from'], a['init-args']),
          flavor: a.flavor as FleetFlavor | undefined,
          ...(a['etcd-members'] !== undefined ? { etcdMembers: a['etcd-members'] } : {}),
          ...(a['etcd-tls'] !== undefined ? { etcdTls: a['etcd-tls'] } : {}),
          ...(a['etcd-auth'] !== undefined ? { etcdAuth: a['etcd-auth'] } : {}),
          sshKey: a['ssh-key'],
        });
        for (const w of r.warnings) process.stderr.write(`fleet-lab: warning: ${w}\n`);
        for (const [k, v] of Object.entries(r.env)) process.stdout.write(`${k}=${v}\n`);
        process.stdout.write('\n' + (await machineTable(lab, await lab.machines())));
        process.stdout.write('\n' + sshHints(lab.stateDir, (await lab.state())?.sshKey).join('\n') + '\n');
      },
    )
    .command('down', 'remove everything the cluster made', (y) => y, async (a) => {
      await labOf(a).down();
    })
    .command(
      'list',
      'list machines',
      (y) => y.option('json', { type: 'boolean', default: false }),
      async (a) => {
        const lab = labOf(a);
        const machines = await lab.machines();
        if (a.json) {
          const withFleet = [];
          for (const m of machines) withFleet.push({ ...m, fleet: await lab.fleetState(m.name) });
          process.stdout.write(JSON.stringify(withFleet, null, 2) + '\n');
        } else {
          process.stdout.write(await machineTable(lab, machines));
        }
      },
    )
    .command(
      'status',
      'show the cluster: etcd, docker, machines',
      (y) => y.option('json', { type: 'boolean', default: false }),
      async (a) => {
        const lab = labOf(a);
        const st = await lab.status();
        if (a.json) {
          process.stdout.write(JSON.stringify(st, null, 2) + '\n');
          return;
        }
        if (!st.exists) {
          process.stdout.write(`cluster ${st.name}: not created (${st.stateDir})\n`);
          return;
        }
        const lines = [
          `cluster    ${st.name}`,
          `state dir  ${st.stateDir}`,
          `network    ${st.bridge} ${st.bridgeIp}/24`,
          `etcd       ${st.etcd ? `${st.etcd.url} ${st.etcd.loopbackUrl} pid ${st.etcd.pid ?? '-'} ${st.etcd.healthy ? 'healthy' : 'UNHEALTHY'}` : '-'}`,
          `docker     ${st.docker ? `unix://${st.docker.socket} pid ${st.docker.pid ?? '-'} ${st.docker.running ? 'running' : 'STOPPED'}` : 'off'}`,
          ...(st.metadataService
            ? [`metadata   ${st.metadataService.url} pid ${st.metadataService.pid ?? '-'} ${st.metadataService.running ? 'running' : 'STOPPED'}`]
            : []),
          `fleet      ${st.fleet ? 'on' : 'off'}`,
          `machines   ${st.machines.filter((m) => m.running).length} running, ${st.machines.filter((m) => !m.running).length} off`,
          ...Object.entries(st.env).map(([k, v]) => `${k}=${v}`),
        ];
        process.stdout.write(lines.join('\n') + '\n\n' + (await machineTable(lab, st.machines)));
      },
    )
    .command(
      'env',
      'print shell exports for fleetctl: eval "$(fleet-lab env)" (fleetd\'s TCP API on the first running machine)',
      (y) => y.option('etcd', { type: 'boolean', default: false, describe: 'fleetctl --driver=etcd against the lab\'s etcd instead' }),
      async (a) => {
        const lab = labOf(a);
        for (const [k, v] of Object.entries(await lab.env({ etcd: a.etcd }))) process.stdout.write(`export ${k}=${v}\n`);
        // on stderr: stdout is only the exports
        process.stderr.write(sshHints(lab.stateDir, (await lab.state())?.sshKey).join('\n') + '\n');
      },
    )
    .command(
      'exec <machine> [command..]',
      'run a command inside a machine: fleet-lab exec m1 -- systemctl status',
      (y) => machineArg(y).positional('command', { type: 'string', array: true, default: [] as string[] }),
      async (a) => {
        const rest = ((a['--'] ?? []) as unknown[]).map(String);
        const argv = [...(a.command ?? []), ...rest];
        process.exitCode = await passthrough(await labOf(a).execArgv(a.machine, argv));
      },
    )
    .command('stop-fleet <machine>', 'stop fleet.service on a machine', (y) => machineArg(y), async (a) => {
      await labOf(a).stopFleet(a.machine);
    })
    .command('start-fleet <machine>', 'start fleet.service on a machine', (y) => machineArg(y), async (a) => {
      await labOf(a).startFleet(a.machine);
    })
    .command('poweroff <machine>', 'power a machine off (its disk is kept)', (y) => machineArg(y), async (a) => {
      await labOf(a).poweroff(a.machine);
    })
    .command('poweron <machine>', 'boot a powered-off machine again (same machine-id)', (y) => machineArg(y), async (a) => {
      await labOf(a).poweron(a.machine);
    })
    .command('replace <machine>', 'replace a machine: fresh disk and machine-id, same address', (y) => machineArg(y), async (a) => {
      const m = await labOf(a).replace(a.machine);
      process.stdout.write(`${m.name} ${m.machineId} ${m.ip}\n`);
    })
    .command('cut <machine>', "cut a machine's network (etcd and other machines unreachable)", (y) => machineArg(y), async (a) => {
      await labOf(a).cut(a.machine);
    })
    .command('heal <machine>', "restore a machine's network", (y) => machineArg(y), async (a) => {
      await labOf(a).heal(a.machine);
    })
    .command(
      'etcd-member <member> <fault>',
      'with --etcd-members: kill, restart, partition (SIGSTOP), heal or replace an etcd member (e1, e2, ...)',
      (y) =>
        y
          .positional('member', { type: 'string', demandOption: true })
          .positional('fault', { type: 'string', choices: ['kill', 'restart', 'partition', 'heal', 'replace'] as const, demandOption: true }),
      async (a) => {
        const lab = labOf(a);
        if (a.fault === 'replace') process.stdout.write(`${await lab.replaceEtcdMember(a.member)}\n`);
        else await lab.etcdMember(a.member, a.fault);
      },
    )
    .demandCommand(1, 'name a command: up, down, list, status, env, exec, stop-fleet, start-fleet, poweroff, poweron, replace, cut, heal, etcd-member')
    .strictCommands()
    .fail((msg, err) => {
      throw err ?? new FleetError(msg);
    })
    .help()
    .parseAsync();
}

main().catch((err: unknown) => {
  if (err instanceof FleetError) process.stderr.write(`fleet-lab: ${err.message}\n`);
  else process.stderr.write(`fleet-lab: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
