/**
 * Real lab clusters for tests: a uniquely named fleet-lab cluster per call, always torn down by
 * t.teardown, and by a watchdog process if this test process dies first.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Lab, type ExecOptions, type MachineInfo, type UpOptions } from '../../lab/cluster.js';
import { record } from '../../lab/proc.js';
import { run, type RunResult } from '../../lab/run.js';
import { connectSystemd, type ConnectOptions, type SystemdClient } from '../../lib/systemd/index.js';
import type { Teardownable } from './teardown.js';

export type { MachineInfo, RunResult };

export interface TestLabOptions extends UpOptions {
  /** start of the cluster name (a unique suffix is added); default 't' */
  readonly prefix?: string;
}

export interface TestLab {
  /** the whole fleet-lab API (faults: poweroff, poweron, replace, cut, heal, stopFleet, startFleet, ...) */
  readonly lab: Lab;
  readonly name: string;
  readonly stateDir: string;
  /** etcd as machines reach it (on the bridge) */
  readonly etcdUrl: string;
  /** FLEETCTL_* variables for fleetctl on the host */
  readonly env: Readonly<Record<string, string>>;
  /** what `up` reported but did not fail on (e.g. fleet.service could not be started) */
  readonly warnings: readonly string[];
  machines(): Promise<MachineInfo[]>;
  machine(name: string): Promise<MachineInfo>;
  /** run argv inside a machine; never throws for a non-zero exit */
  exec(machine: string, argv: readonly string[], opts?: ExecOptions): Promise<RunResult>;
  /** `sh -c script` inside a machine */
  sh(machine: string, script: string, opts?: ExecOptions): Promise<RunResult>;
  /** a systemd client on the machine's system bus, closed at teardown */
  systemd(machine: string, opts?: ConnectOptions): Promise<SystemdClient>;
  /** run the fleet-lab CLI against this cluster (name and state dir filled in) */
  cli(args: readonly string[], opts?: { input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** tear down now (teardown does it anyway; idempotent) */
  down(): Promise<void>;
}

export const LAB_CLI = fileURLToPath(new URL('../../lab/main.js', import.meta.url));
const WATCHDOG = fileURLToPath(new URL('../../lab/watchdog.js', import.meta.url));

/** A cluster name no other test uses: short enough for interface names. */
export function uniqueLabName(prefix = 't'): string {
  return `${prefix}${process.pid.toString(36)}${randomBytes(2).toString('hex')}`.slice(0, 12);
}

function startWatchdog(lab: Lab): void {
  const me = record(process.pid);
  if (!me || !existsSync(WATCHDOG)) return;
  const child = spawn(process.execPath, [WATCHDOG, String(me.pid), String(me.start), lab.name, lab.stateDir], {
    detached: true,
    stdio: 'ignore',
  });
  child.on('error', () => undefined);
  child.unref();
}

/** Bring up a lab cluster for this test; teardown always runs `down`, even if `up` fails. */
export async function startLab(t: Teardownable, opts: TestLabOptions = {}): Promise<TestLab> {
  const { prefix, ...up } = opts;
  const lab = new Lab({ name: uniqueLabName(prefix) });
  const clients: SystemdClient[] = [];
  let downed: Promise<void> | undefined;
  const down = (): Promise<void> => {
    downed ??= (async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
      await lab.down();
    })();
    return downed;
  };
  t.teardown(down);
  startWatchdog(lab);
  const result = await lab.up(up);
  const state = await lab.state();
  const etcdUrl = state?.etcd?.clientUrl ?? '';

  const tl: TestLab = {
    lab,
    name: lab.name,
    stateDir: lab.stateDir,
    etcdUrl,
    env: result.env,
    warnings: result.warnings,
    machines: () => lab.machines(),
    machine: (name) => lab.machine(name),
    exec: (machine, argv, o) => lab.exec(machine, argv, o),
    sh: (machine, script, o) => lab.exec(machine, ['sh', '-c', script], o),
    async systemd(machine, o) {
      const m = await lab.machine(machine);
      if (!m.busAddress) throw new Error(`${machine} is not running`);
      const c = await connectSystemd(m.busAddress, o);
      clients.push(c);
      return c;
    },
    cli: (args, o = {}) =>
      run(process.execPath, [LAB_CLI, '--name', lab.name, '--state-dir', lab.stateDir, ...args], {
        input: o.input,
        timeoutMs: o.timeoutMs ?? 300_000,
      }),
    down,
  };
  return tl;
}
