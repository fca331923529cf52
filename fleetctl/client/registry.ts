/**
 * FleetClient straight on the etcd registry (--driver=etcd), through the same adapter the API server uses.
 * status/journal run systemctl/journalctl locally when the unit is on this machine, else over ssh (like fleet).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { Registry, openEtcd, EtcdRequestError, UnitNotFoundError } from '../../lib/registry/index.js';
import { RegistryBackend } from '../../lib/api/backend.js';
import type { PlanResponse, PlanUnitRequest } from '../../lib/api/schema.js';
import { planWith } from '../../lib/api/plan.js';
import { ApiError } from '../../lib/api/errors.js';
import type { DesiredState } from '../../lib/unit/types.js';
import type { RolloutControl } from '../../lib/rollout/types.js';
import { shellQuote, sshArgs, type SshSettings } from './ssh.js';
import { ApiRequestError, EndpointError, describeNetError } from './errors.js';
import { sortStates } from './sort.js';
import type {
  ApiMachine,
  ApiUnit,
  ApiUnitState,
  FleetClient,
  InspectTarget,
  JournalOptions,
  NewUnit,
  ApiRestartRequest,
  ApiRollout,
  ApiRolloutRequest,
  StatusResult,
  UnitStateFilter,
} from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface RegistryClientOptions {
  endpoints: string[];
  prefix: string;
  requestTimeoutMs: number;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  ssh: SshSettings;
  /** Where this machine's id is read to decide local vs ssh (default /etc/machine-id). */
  machineIdFile?: string;
  onClose?: () => Promise<void> | void;
}

function localMachineId(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export class RegistryFleetClient implements FleetClient {
  readonly endpoint: string;
  readonly registry: Registry;
  private readonly backend: RegistryBackend;

  constructor(private readonly opts: RegistryClientOptions) {
    this.endpoint = opts.endpoints.join(',');
    const tls = opts.caFile || opts.certFile || opts.keyFile
      ? { ...(opts.caFile ? { ca: opts.caFile } : {}), ...(opts.certFile ? { cert: opts.certFile } : {}), ...(opts.keyFile ? { key: opts.keyFile } : {}) }
      : undefined;
    const etcd = openEtcd({ endpoints: opts.endpoints, prefix: opts.prefix, requestTimeoutMs: opts.requestTimeoutMs, ...(tls ? { tls } : {}) });
    this.registry = new Registry(etcd, opts.prefix);
    this.backend = new RegistryBackend(this.registry, (_op, fn) => this.guard(fn));
  }

  /** etcd failures become one clear line naming the endpoints. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof EtcdRequestError) throw new EndpointError(`cannot reach etcd at ${this.endpoint}: ${describeEtcdError(err.cause ?? err)}`);
      throw err;
    }
  }

  units(): Promise<ApiUnit[]> {
    return this.backend.listUnits();
  }

  unit(name: string): Promise<ApiUnit | undefined> {
    return this.backend.getUnit(name);
  }

  async unitStates(filter: UnitStateFilter = {}): Promise<ApiUnitState[]> {
    return sortStates(await this.backend.listUnitStates(filter));
  }

  machines(): Promise<ApiMachine[]> {
    return this.backend.listMachines();
  }

  async createUnit(unit: NewUnit): Promise<void> {
    await this.backend.putUnit(unit.name, unit.options, unit.desiredState ?? 'inactive');
  }

  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    try {
      await this.backend.setDesiredState(name, state);
    } catch (err) {
      if (err instanceof UnitNotFoundError) throw new ApiRequestError(404, 'unit does not exist');
      throw err;
    }
  }

  destroyUnit(name: string): Promise<boolean> {
    return this.backend.destroyUnit(name);
  }

  async requestRestart(name: string, machineId: string): Promise<string> {
    try {
      return await this.backend.requestRestart(name, machineId);
    } catch (err) {
      if (err instanceof UnitNotFoundError) throw new ApiRequestError(404, 'unit does not exist');
      throw err;
    }
  }

  restartRequest(name: string, machineId: string): Promise<ApiRestartRequest | undefined> {
    return this.backend.getRestartRequest(name, machineId);
  }

  createRollout(req: ApiRolloutRequest): Promise<ApiRollout> {
    return this.backend.createRollout(req);
  }

  rollout(id: string): Promise<ApiRollout | undefined> {
    return this.backend.getRollout(id);
  }

  rollouts(): Promise<ApiRollout[]> {
    return this.backend.listRollouts();
  }

  controlRollout(id: string, control: RolloutControl): Promise<void> {
    return this.backend.controlRollout(id, control);
  }

  /** Runs a command on the unit's machine: locally when it is this machine, else over ssh. */
  private async commandOn(name: string, argv: string[], target: InspectTarget): Promise<{ program: string; args: string[] }> {
    const u = await this.unit(name);
    if (!u) throw new ApiRequestError(404, 'unit does not exist');
    const machineID = target.machineID ?? u.machineID;
    if (!machineID) throw new ApiRequestError(409, `unit ${name} is not scheduled to any machine`);
    if (localMachineId(this.opts.machineIdFile ?? '/etc/machine-id') === machineID) return { program: argv[0]!, args: argv.slice(1) };
    const m = (await this.machines()).find((x) => x.id === machineID);
    if (!m?.primaryIP) throw new ApiRequestError(502, `Error getting machine IP: machine ${machineID} has no known public IP`);
    return { program: 'ssh', args: sshArgs(this.opts.ssh, m.primaryIP, target.sshPort ?? 22, { command: argv.map(shellQuote).join(' ') }) };
  }

  async status(name: string, target: InspectTarget = {}): Promise<StatusResult> {
    const { program, args } = await this.commandOn(name, ['systemctl', 'status', '-l', name], target);
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.opts.ssh.env });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', (err) => reject(new Error(`cannot run ${program}: ${err.message}`)));
      child.on('close', (code) => resolve({ output: Buffer.concat(chunks).toString('utf8'), exitCode: code ?? 1 }));
    });
  }

  async journal(name: string, opts: JournalOptions, target: InspectTarget = {}): Promise<Readable> {
    const argv = ['journalctl', '--unit', name, '--no-pager', '-n', String(opts.lines), '--output', opts.output];
    if (opts.follow) argv.push('-f');
    if (target.sudo) argv.unshift('sudo');
    const { program, args } = await this.commandOn(name, argv, target);
    const out = new PassThrough();
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'], env: this.opts.ssh.env });
    child.on('error', (err) => out.destroy(new Error(`cannot run ${program}: ${err.message}`)));
    child.stdout.pipe(out);
    out.on('close', () => child.kill());
    return out;
  }

  async plan(units: PlanUnitRequest[]): Promise<PlanResponse> {
    try {
      return planWith(await this.backend.clusterState(), units);
    } catch (err) {
      if (err instanceof ApiError) throw new ApiRequestError(err.status, err.message);
      throw err;
    }
  }

  /** The highest fleet version any live machine runs (for fleetctl's old-version warning). */
  async latestDaemonVersion(): Promise<string | undefined> {
    const ms = await this.guard(() => this.registry.listMachines());
    return ms.map((m) => m.version).filter((v) => v).sort(compareVersions).pop();
  }

  async close(): Promise<void> {
    await this.registry.close({ client: true });
    await this.opts.onClose?.();
  }
}

/** One short reason from etcd3/grpc's verbose errors. */
export function describeEtcdError(err: unknown): string {
  const msg = errorMessage(err);
  const m = /connect (E[A-Z]+)/.exec(msg);
  if (m) {
    const code = m[1]!;
    if (code === 'ECONNREFUSED') return 'connection refused (is etcd running there?)';
    return describeNetError({ code, message: msg });
  }
  if (/DEADLINE_EXCEEDED|deadline/i.test(msg)) return 'no answer within --request-timeout (etcd down, unreachable or without quorum?)';
  if (/UNIMPLEMENTED/.test(msg)) return 'the endpoint does not speak the etcd v3 API (is it an etcd client URL?)';
  if (/UNAVAILABLE/.test(msg)) return 'etcd unavailable (is it running, and is the endpoint right?)';
  if (/PERMISSION_DENIED|UNAUTHENTICATED/.test(msg)) return 'permission denied by etcd (check credentials / client certificate)';
  return msg.split('\n')[0]!;
}

/** Semantic version order of `x.y.z[-pre]` strings (pre-releases before releases). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number[], string] => {
    const [core, pre = ''] = v.replace(/^v/, '').split('-', 2) as [string, string?];
    return [core.split('.').map((x) => Number(x) || 0), pre];
  };
  const [ac, ap] = parse(a);
  const [bc, bp] = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (ac[i] ?? 0) - (bc[i] ?? 0);
    if (d !== 0) return d;
  }
  if (ap === bp) return 0;
  if (ap === '') return 1;
  if (bp === '') return -1;
  return ap < bp ? -1 : 1;
}

