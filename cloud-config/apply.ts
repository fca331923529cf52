/**
 * Carries out a plan on a target root (default /). Checks the plan against the target's accounts first and
 * changes nothing if that fails; then runs the steps in order, each reporting changed / unchanged / skipped /
 * ran / failed. Systemd steps go through the SystemdApplier; without one they are skipped (e.g. a --root tree).
 */
import { hostname as currentHostname } from 'node:os';
import { resolve } from 'node:path';
import { parseGroup, parseOwner, parsePasswd, parseShadow, resolveOwner, findUser, type Accounts } from './accounts.js';
import { commandText, spawnRunner, type CommandRunner } from './commands.js';
import { mergeEnvironment } from './environment-file.js';
import { logger } from '../lib/log.js';
import { ApplyError, InvalidDocumentError } from './errors.js';
import {
  openDirectory,
  readIfExists,
  removeCreatedDirectories,
  removeMask,
  splitPath,
  symlinkAtomic,
  writeFileAtomic,
  type Change,
  type Ownership,
  type RootDir,
} from './fsops.js';
import { MAX_TARGET_FILE_BYTES } from './limits.js';
import { describeStep, type Plan, type PlanStep } from './plan.js';
import { preflight } from './preflight.js';
import { authorizeKeys } from './ssh-keys.js';
import type { SystemdApplier } from './systemd-applier.js';
import { setPasswordArgs, useraddArgs } from './users.js';
import { errorMessage } from '../lib/errors.js';
import { isNoSuchUnit } from '../lib/systemd/errors.js';

const log = logger('cloud-config');

/** `ran`: an action that is carried out every time (unit commands, daemon-reload after a change, scripts). */
export type Outcome = 'changed' | 'unchanged' | 'ran' | 'skipped' | 'failed';

export interface StepResult {
  readonly step: PlanStep;
  readonly outcome: Outcome;
  readonly detail?: string;
}

export interface ApplyOptions {
  /** Target root directory; default '/'. Host tools (hostnamectl) are only used when it is '/'. */
  readonly root?: string;
  /** systemd access; without it enable, daemon-reload, commands and scripts are skipped. */
  readonly units?: SystemdApplier;
  /** Bus address handed to systemd-run for scripts (default: its own default). */
  readonly busAddress?: string;
  readonly runner?: CommandRunner;
  /** Called with each result as it happens. */
  readonly onResult?: (result: StepResult) => void;
}

export interface ApplyReport {
  readonly results: readonly StepResult[];
  /** The first failure. Applying stops there, except that a failed unit command lets later ones run. */
  readonly error?: ApplyError;
}

export async function readAccounts(root: string): Promise<Accounts> {
  const read = async (p: string): Promise<string> => (await readIfExists(root, p, MAX_TARGET_FILE_BYTES))?.toString('utf8') ?? '';
  return {
    users: parsePasswd(await read('/etc/passwd')),
    groups: parseGroup(await read('/etc/group')),
    shadow: parseShadow(await read('/etc/shadow')),
  };
}

const self = (): Ownership => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });

interface State {
  readonly root: string;
  readonly options: ApplyOptions;
  readonly runner: CommandRunner;
  unitsDirty: boolean;
  networkDirty: boolean;
  /** The plan's file writes, staged before the first of them runs (see stageWrites). */
  staged?: Map<PlanStep, Staged>;
}

interface Staged {
  readonly dir: RootDir;
  readonly name: string;
  /** The staged temp file in `dir`; undefined when the file is already as wanted (or once committed). */
  tmp: string | undefined;
}

type WriteStep = Extract<PlanStep, { kind: 'write' }>;

/** Staging failed: `step` is the write that could not be prepared; nothing of any write was left behind. */
class StageError extends Error {
  constructor(
    readonly step: WriteStep,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Makes the plan's file writes all-or-nothing: every file is written to a temp file in its target directory
 * (with its mode and owner) before any is renamed into place. If one cannot be staged, the staged ones and
 * the directories created for them are removed and StageError names the write that failed. What is left:
 * a failure of a rename itself (after staging succeeded) leaves the earlier renames done.
 */
async function stageWrites(state: State, steps: readonly WriteStep[]): Promise<Map<PlanStep, Staged>> {
  const staged = new Map<PlanStep, Staged>();
  const dirs = new Map<string, RootDir>();
  const created: string[] = [];
  const accounts = await readAccounts(state.root);
  for (const step of steps) {
    try {
      const owner = ownershipOf(accounts, step.owner);
      const { dir, name } = splitPath(step.path);
      let d = dirs.get(dir);
      if (!d) {
        d = await openDirectory(state.root, dir, { create: { mode: 0o755 }, created });
        dirs.set(dir, d);
      }
      const same = await d.fileMatches(name, step.content, step.mode, owner);
      staged.set(step, { dir: d, name, tmp: same ? undefined : await d.stageFile(name, step.content, step.mode, owner) });
    } catch (err) {
      await discardStaged(state, staged, dirs.values(), created);
      throw new StageError(step, errorMessage(err));
    }
  }
  return staged;
}

/** Removes staged files not renamed yet, closes the directories, and removes directories created for them. */
async function discardStaged(state: State, staged: ReadonlyMap<PlanStep, Staged>, dirs: Iterable<RootDir>, created: readonly string[]): Promise<void> {
  for (const s of staged.values()) {
    if (s.tmp !== undefined) await s.dir.discard(s.tmp).catch(() => undefined);
    s.tmp = undefined;
  }
  for (const d of dirs) await d.close().catch(() => undefined);
  await removeCreatedDirectories(state.root, created);
}

type StepOutcome = Change | { outcome: Outcome; detail?: string };

async function run(state: State, argv: string[], what: string): Promise<void> {
  const r = await state.runner.run(argv);
  if (r.code !== 0) {
    throw new Error(`${what}: ${commandText(argv)} exited with ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
  }
}

async function applyHostname(state: State, name: string): Promise<StepOutcome> {
  const file = await writeFileAtomic(state.root, '/etc/hostname', Buffer.from(`${name}\n`), 0o644, self());
  if (state.root !== '/' || currentHostname() === name) return file;
  const r = await state.runner.run(['hostnamectl', 'set-hostname', name]);
  if (r.code !== 0) await run(state, ['hostname', name], 'setting the host name');
  return 'changed';
}

async function applyUser(state: State, step: Extract<PlanStep, { kind: 'user' }>): Promise<StepOutcome> {
  const accounts = await readAccounts(state.root);
  const u = step.user;
  if (findUser(accounts, u.name)) {
    if (u.passwd === undefined || accounts.shadow.get(u.name) === u.passwd) {
      return { outcome: 'unchanged', detail: 'exists' };
    }
    await run(state, setPasswordArgs(u.name, u.passwd, state.root), `setting the password of ${u.name}`);
    return { outcome: 'changed', detail: 'password set' };
  }
  await run(state, useraddArgs(u, state.root), `creating user ${u.name}`);
  return { outcome: 'changed', detail: 'created' };
}

function ownershipOf(accounts: Accounts, owner: string | undefined): Ownership {
  const me = self();
  if (owner === undefined) return me;
  const spec = parseOwner(owner);
  if (typeof spec === 'string') throw new Error(spec);
  const ids = resolveOwner(spec, accounts);
  if (typeof ids === 'string') throw new Error(ids);
  return { uid: ids.uid ?? me.uid, gid: ids.gid ?? me.gid };
}

async function applySshKeys(state: State, step: Extract<PlanStep, { kind: 'ssh-keys' }>): Promise<StepOutcome> {
  const user = findUser(await readAccounts(state.root), step.user);
  if (!user) throw new Error(`user ${step.user} does not exist`);
  return authorizeKeys(state.root, user.home, { uid: user.uid, gid: user.gid }, step.keyName, step.keys);
}

async function applyEnvironment(state: State, step: Extract<PlanStep, { kind: 'environment' }>): Promise<StepOutcome> {
  const { dir, name } = splitPath(step.path);
  const d = await openDirectory(state.root, dir, { create: { mode: 0o755 } });
  try {
    const current = await d.readFile(name, MAX_TARGET_FILE_BYTES);
    const old = current?.toString('utf8') ?? '';
    // a file not there yet starts from its base (update.conf: CoreOS's shipped one), or empty if that is missing too
    const start = current === undefined && step.base !== undefined ? ((await readIfExists(state.root, step.base, MAX_TARGET_FILE_BYTES))?.toString('utf8') ?? '') : old;
    const merged = mergeEnvironment(start, step.vars);
    if (current !== undefined && merged === old) return 'unchanged';
    const st = await d.lstat(name);
    const keep = st?.isFile() === true;
    const mode = keep ? st.mode & 0o7777 : 0o644;
    const owner = keep ? { uid: st.uid, gid: st.gid } : self();
    return await d.writeFile(name, Buffer.from(merged, 'utf8'), mode, owner);
  } finally {
    await d.close();
  }
}

const NO_SYSTEMD = { outcome: 'skipped' as const, detail: 'no systemd connection' };

async function applyStep(state: State, step: PlanStep): Promise<StepOutcome> {
  const units = state.options.units;
  switch (step.kind) {
    case 'hostname':
      return applyHostname(state, step.hostname);
    case 'user':
      return applyUser(state, step);
    case 'ssh-keys':
      return applySshKeys(state, step);
    case 'write': {
      const staged = state.staged?.get(step);
      if (!staged) throw new Error('internal: write step was not staged');
      let change: Change = 'unchanged';
      if (staged.tmp !== undefined) {
        await staged.dir.commit(staged.tmp, staged.name);
        staged.tmp = undefined;
        change = 'changed';
      }
      if (change === 'changed' && step.affects === 'units') state.unitsDirty = true;
      if (change === 'changed' && step.affects === 'network') state.networkDirty = true;
      return change;
    }
    case 'environment':
      return applyEnvironment(state, step);
    case 'mask':
    case 'unmask': {
      const change =
        step.kind === 'mask'
          ? await symlinkAtomic(state.root, step.path, '/dev/null')
          : await removeMask(state.root, step.path);
      if (change === 'changed') state.unitsDirty = true;
      return change;
    }
    case 'enable': {
      if (!units) return NO_SYSTEMD;
      const changed = await units.enableUnitFiles([step.unit], step.runtime);
      if (changed) state.unitsDirty = true;
      return changed ? 'changed' : 'unchanged';
    }
    case 'daemon-reload':
      if (!state.unitsDirty) return { outcome: 'unchanged', detail: 'no unit file changed' };
      if (!units) return NO_SYSTEMD;
      await units.reload();
      return { outcome: 'ran' };
    case 'restart-networkd': {
      if (!state.networkDirty) return { outcome: 'unchanged', detail: 'no network file changed' };
      if (!units) return NO_SYSTEMD;
      const result = await units.runUnitCommand('systemd-networkd.service', 'restart');
      return result === 'done' ? { outcome: 'ran', detail: 'job done' } : { outcome: 'failed', detail: `job result: ${result}` };
    }
    case 'unit-command': {
      if (!units) return NO_SYSTEMD;
      let result: string;
      try {
        result = await units.runUnitCommand(step.unit, step.command);
      } catch (err) {
        if (step.ifInstalled && isNoSuchUnit(err)) {
          return { outcome: 'skipped', detail: `${step.unit} is not installed on this host` };
        }
        throw err;
      }
      return result === 'done'
        ? { outcome: 'ran', detail: 'job done' }
        : { outcome: 'failed', detail: `job result: ${result} (see journalctl -u ${step.unit})` };
    }
    case 'script': {
      await writeFileAtomic(state.root, step.path, step.content, 0o700, self());
      if (!units) return { outcome: 'skipped', detail: `stored at ${step.path}; not run without systemd` };
      const env = state.options.busAddress ? { DBUS_SYSTEM_BUS_ADDRESS: state.options.busAddress } : undefined;
      const argv = ['systemd-run', `--unit=${step.unit}`, '--collect', '--description=Unit generated and executed by coreos-cloudinit on behalf of user', step.path];
      const r = await state.runner.run(argv, env ? { env } : {});
      if (r.code !== 0) throw new Error(`${commandText(argv)} exited with ${r.code}: ${r.stderr.trim()}`);
      return { outcome: 'ran', detail: `started as ${step.unit}` };
    }
  }
}

/** Checks the plan against the target (nothing changed if that fails), then applies it step by step. */
export async function applyPlan(plan: Plan, options: ApplyOptions = {}): Promise<ApplyReport> {
  const root = resolve(options.root ?? '/');
  const problems = preflight(plan, await readAccounts(root));
  if (problems.length > 0) throw new InvalidDocumentError(problems);

  const state: State = { root, options, runner: options.runner ?? spawnRunner, unitsDirty: false, networkDirty: false };
  const results: StepResult[] = [];
  let error: ApplyError | undefined;
  const record = (result: StepResult): void => {
    if (result.outcome === 'failed') {
      error ??= new ApplyError(describeStep(result.step), result.detail ?? 'failed', result.step.kind);
    }
    results.push(result);
    log[result.outcome === 'failed' ? 'error' : 'info']('step', {
      step: describeStep(result.step),
      outcome: result.outcome,
      ...(result.detail ? { detail: result.detail } : {}),
    });
    options.onResult?.(result);
  };
  const writes = plan.steps.filter((s): s is WriteStep => s.kind === 'write');
  try {
    for (const step of plan.steps) {
      if (error && (error.step !== 'unit-command' || step.kind !== 'unit-command')) break;
      if (step.kind === 'write' && !state.staged) {
        try {
          state.staged = await stageWrites(state, writes);
        } catch (err) {
          if (!(err instanceof StageError)) throw err;
          record({ step: err.step, outcome: 'failed', detail: `${err.message} (no file of write_files or units was written)` });
          break;
        }
      }
      let result: StepResult;
      try {
        const o = await applyStep(state, step);
        result = typeof o === 'string' ? { step, outcome: o } : { step, ...o };
      } catch (err) {
        result = { step, outcome: 'failed', detail: errorMessage(err) };
      }
      record(result);
    }
  } finally {
    if (state.staged) {
      await discardStaged(state, state.staged, new Set([...state.staged.values()].map((s) => s.dir)), []);
    }
  }
  return { results, ...(error ? { error } : {}) };
}
