/**
 * Getting units into the cluster the way fleetctl does (lazyCreateUnits): for each argument, in order,
 * (1) the unit already in the registry, (2) a local file at the given path, (3) for an instance
 * `foo@bar.service`, the template `foo@.service` from the registry, (4) the template file next to the path.
 * --replace re-creates a unit whose local file hashes differently, if its desired state allows.
 */
import path from 'node:path';
import type { DesiredState } from '../lib/unit/types.js';
import { ApiRequestError, EndpointError } from './client/errors.js';
import type { ApiUnit, ApiUnitOption } from './client/types.js';
import type { CommandContext } from './context.js';
import { FleetctlError } from './errors.js';
import { debugLog, warnLog } from './golog.js';
import { DeferredOutput } from './output.js';
import { reservedArgument } from './reserved.js';
import { hashOfOptions, isGlobalUnit, mangleName, optionsFromText, templateOf, validateNewUnit, withDefaultType } from './unitfile.js';
import { waitForUnitStates } from './wait.js';
import { errorMessage } from '../lib/errors.js';
import { fleetRequirementsMessage, goQuote } from '../lib/unit/fleet-words.js';
import { RequirementsError, X_FLEET_SECTION } from '../lib/unit/index.js';
import { inOrderLimited } from '../lib/limit.js';

export type CreatingCommand = 'submit' | 'load' | 'start' | 'restart' | 'plan';

const REPLACEABLE: Partial<Record<CreatingCommand, readonly DesiredState[]>> = {
  submit: ['inactive'],
  // fleet refused to replace a launched unit on load, and then stopped it (#1428): docs/fleet-compat.md#fleetctl
  load: ['inactive', 'loaded', 'launched'],
  start: ['inactive', 'loaded', 'launched'],
};

/** The state each command sets; a replacement keeps a unit's desired state when it is above this one. */
const COMMAND_STATE: Partial<Record<CreatingCommand, DesiredState>> = { load: 'loaded' };

const STATE_RANK: Record<DesiredState, number> = { inactive: 0, loaded: 1, launched: 2 };

export interface CreateOptions {
  command: CreatingCommand;
  replace: boolean;
  /** For the wait until created units report inactive (fleet uses --block-attempts, 0 = forever). */
  blockAttempts: number;
}

/** Rethrows what must reach the top level (endpoint failures); wraps everything else in `wrap`. */
export function passThrough(err: unknown): void {
  if (err instanceof EndpointError) throw err;
}

function localOptions(ctx: CommandContext, file: string): ApiUnitOption[] | undefined {
  try {
    const text = ctx.files.read(file);
    if (text === undefined) return undefined;
    debugLog(ctx, 'fleetctl.go:557', `Unit(${path.basename(file)}) found in local filesystem`);
    return optionsFromText(text, file);
  } catch (err) {
    throw new FleetctlError(`failed getting Unit(${file}) from file: ${errorMessage(err)}`);
  }
}

/**
 * Before anything is created: every local file the arguments may be read from (the unit file, an instance's
 * template next to it) must be a regular file within the size bound, so a bad one is refused with nothing
 * written. An argument written as a path (with a `/`) that names a directory, FIFO or device is refused too,
 * although fleet would look for `<path>.service`; a bare name (`web`) is left alone, as it may name a unit
 * in the cluster while a directory of that name happens to be here.
 */
export function checkLocalFiles(ctx: CommandContext, args: readonly string[]): void {
  for (const raw of args) {
    const arg = withDefaultType(raw);
    const own = ctx.files.inspect(arg);
    if (own.kind === 'refused') throw new FleetctlError(own.reason);
    if (own.kind === 'file') continue;
    if (raw !== arg && raw.includes('/')) {
      const typed = ctx.files.inspect(raw);
      if (typed.kind === 'refused') throw new FleetctlError(typed.reason);
    }
    const template = templateOf(path.basename(arg));
    if (template !== undefined) {
      const t = ctx.files.inspect(path.join(path.dirname(arg), template));
      if (t.kind === 'refused') throw new FleetctlError(t.reason);
    }
  }
}

/** The unit file for `arg`: local file, else (instances) template from the registry, else template on disk. */
export async function unitFileFor(ctx: CommandContext, arg: string, opts: CreateOptions, typed = arg): Promise<ApiUnitOption[]> {
  const name = mangleName(arg);
  debugLog(ctx, 'fleetctl.go:514', `Looking for Unit(${name}) or its corresponding template`);
  const options = await findUnitFile(ctx, arg, opts, typed);
  debugLog(ctx, 'fleetctl.go:544', `Found Unit(${name})`);
  return options;
}

async function findUnitFile(ctx: CommandContext, arg: string, opts: CreateOptions, typed: string): Promise<ApiUnitOption[]> {
  const name = mangleName(arg);
  const local = localOptions(ctx, arg);
  if (local) return local;
  const template = templateOf(name);
  if (template === undefined) {
    const here = typed !== arg ? ctx.files.inspect(typed) : undefined;
    const hint = here?.kind === 'refused' ? ` (${here.reason})` : '';
    throw new FleetctlError(`unable to find Unit(${name}) in Registry or on filesystem${hint}`);
  }
  const templatePath = path.join(path.dirname(arg), template);
  if (opts.replace) {
    // --replace means "with what is here": the local template wins over the registry's (#1691)
    const fromDisk = localOptions(ctx, templatePath);
    if (fromDisk) return fromDisk;
  }

  let tmpl: ApiUnit | undefined;
  try {
    tmpl = await ctx.client.unit(template);
  } catch (err) {
    passThrough(err);
    throw new FleetctlError(`failed getting Unit(${arg}) from template: error retrieving template Unit(${template}) from Registry: ${errorMessage(err)}`);
  }
  if (tmpl) {
    await localDiffers(ctx, arg, tmpl, opts.replace);
    debugLog(ctx, 'fleetctl.go:577', `Template Unit(${template}) found in registry`);
    return tmpl.options;
  }
  const fromDisk = localOptions(ctx, templatePath);
  if (!fromDisk) {
    throw new FleetctlError(`failed getting Unit(${arg}) from template: unable to find template Unit(${template}) in Registry or on filesystem`);
  }
  return fromDisk;
}

/**
 * fleet's isLocalUnitDifferent: compares the local file (or, for an instance, the local template) with the
 * registry copy, warning when they differ and --replace is not given. Undefined when there is no local file.
 */
async function localDiffers(ctx: CommandContext, file: string, su: ApiUnit, replace: boolean): Promise<boolean | undefined> {
  const registryHash = hashOfOptions(su.options);
  const own = localOptions(ctx, file);
  if (own) {
    const differs = hashOfOptions(own) !== registryHash;
    if (differs && !replace) {
      ctx.out.err(`WARNING: Unit ${su.name} in registry differs from local unit file ${file}. Add --replace to override.`);
    }
    return differs;
  }
  const template = templateOf(path.basename(file));
  if (template === undefined) return undefined;
  const tmpl = localOptions(ctx, path.join(path.dirname(file), template));
  if (!tmpl) return undefined;
  const differs = hashOfOptions(tmpl) !== registryHash;
  if (differs && !replace) {
    ctx.out.err(`WARNING: Unit ${su.name} in registry differs from local template unit file ${file}. Add --replace to override.`);
  }
  return differs;
}

/**
 * fleet's checkUnitCreation: false when the unit must not be (re)created, else the desired state to create it
 * with: `inactive`, or the replaced unit's own state when that is above the one the command sets (a launched
 * unit replaced by `load --replace` stays launched, in the same transaction that replaces its text).
 */
async function needsCreation(ctx: CommandContext, arg: string, opts: CreateOptions): Promise<DesiredState | false> {
  const name = mangleName(arg);
  let existing: ApiUnit | undefined;
  try {
    existing = await ctx.client.unit(name);
  } catch (err) {
    passThrough(err);
    throw new FleetctlError(`error retrieving Unit(${name}) from Registry: ${errorMessage(err)}`);
  }
  if (!existing) {
    if (opts.replace) debugLog(ctx, 'fleetctl.go:743', `Unit(${name}) was not found in Registry`);
    return 'inactive';
  }
  const differs = await localDiffers(ctx, arg, existing, opts.replace);
  if (!opts.replace) {
    if (differs !== true) debugLog(ctx, 'fleetctl.go:762', `Found same Unit(${name}) in Registry, no need to recreate it`);
    return false;
  }
  if (differs === undefined) {
    throw new FleetctlError(`unable to find local unit file ${arg} (or its template) to replace Unit(${name}) with`);
  }
  if (!differs) {
    ctx.out.out(`Found same Unit(${existing.name}) in Registry, nothing to do`);
    return false;
  }
  const allowed = REPLACEABLE[opts.command];
  if (!allowed) throw new FleetctlError('error: replacing units is not supported in this context');
  const ds = existing.desiredState ?? 'inactive';
  const commandState = COMMAND_STATE[opts.command];
  if (allowed.includes(ds)) return commandState !== undefined && STATE_RANK[ds] > STATE_RANK[commandState] ? ds : 'inactive';
  ctx.out.err(`Warning: can not replace Unit(${existing.name}) in state '${ds}', use the appropriate command`);
  return false;
}

/**
 * Requests under way at once while many units are created or targeted (`fleetctl start u1 ... u60`). Each waits
 * for an etcd commit behind the API; with 16 at once a lab's 60 target writes took 2.0 s, with 64 0.5 s.
 */
export const UNIT_CONCURRENCY = 64;

/**
 * Whether each argument's registry reads are independent of the writes made for the arguments before it:
 * distinct names, and no argument is the template another argument's instance reads. If not, the units are
 * handled one after another.
 */
function independent(names: readonly string[]): boolean {
  const set = new Set(names);
  if (set.size !== names.length) return false;
  return !names.some((n) => {
    const t = templateOf(n);
    return t !== undefined && set.has(t);
  });
}

/**
 * Units are read concurrently, but a unit is written only once every earlier unit was read without error: a
 * refusal found while reading unit k stops the writes of the units after k, as when done one after another.
 * enter() is called in argument order.
 */
class ReadGate {
  private all: Promise<boolean> = Promise.resolve(true);
  enter(): { earlierOk: Promise<boolean>; done(ok: boolean): void } {
    const earlierOk = this.all;
    let done!: (ok: boolean) => void;
    const mine = new Promise<boolean>((resolve) => (done = resolve));
    this.all = earlierOk.then((ok) => (ok ? mine : false));
    return { earlierOk, done };
  }
}

/**
 * The checks before a unit is created; prints its warnings. Throws what it refuses. As fleet's client: an
 * [X-Fleet] combination fleet refused is refused in fleet's words, and an option fleet did not know is named in
 * its logger's warning line; our other warnings (legacy keys, a unit that can never be scheduled) follow.
 */
function checkNewUnit(ctx: CommandContext, name: string, options: ApiUnitOption[]): void {
  let checked: ReturnType<typeof validateNewUnit>;
  try {
    checked = validateNewUnit(name, options);
  } catch (err) {
    const fleets = err instanceof RequirementsError ? fleetRequirementsMessage(err) : undefined;
    if (fleets !== undefined) throw new FleetctlError(fleets);
    throw err;
  }
  const fleetWorded = new Set(checked.unknownOptions.map((u) => u.warning));
  for (const { key } of checked.unknownOptions) warnLog(ctx, 'fleetctl.go:674', `Unit ${name}: unrecognized requirement in [X-Fleet] section: ${goQuote(key)}`);
  for (const w of checked.warnings) if (!fleetWorded.has(w)) ctx.out.err(`WARNING: ${w}`);
}

async function putUnit(ctx: CommandContext, name: string, options: ApiUnitOption[], desiredState: DesiredState): Promise<void> {
  try {
    await ctx.client.createUnit({ name, options, ...(desiredState !== 'inactive' ? { desiredState } : {}) });
  } catch (err) {
    passThrough(err);
    throw new FleetctlError(`failed creating unit ${name}: ${errorMessage(err)}`);
  }
  debugLog(ctx, 'fleetctl.go:681', `Created Unit(${name}) in Registry`);
}

/**
 * fleet's lazyCreateUnits. Refuses units fleet must never manage before writing anything (reserved.ts). Throws
 * FleetctlError with fleet's message on the first failure; after creating,
 * waits for the created units to report inactive (`Unit X inactive`), or, replaced units that kept their
 * desired state, that state.
 */
export async function lazyCreateUnits(ctx: CommandContext, args: readonly string[], opts: CreateOptions): Promise<void> {
  checkLocalFiles(ctx, args);
  const reserved = reservedArgument(ctx, args);
  if (reserved) throw reserved; // before anything is written
  const created = new Map<DesiredState, string[]>();
  const names = args.map((raw) => mangleName(withDefaultType(raw)));
  const gate = new ReadGate();
  // each unit's lines are held and printed in argument order; the first failure in that order ends it all
  const one = async (raw: string, i: number): Promise<{ out: DeferredOutput; state: DesiredState | false; error?: unknown }> => {
    // with --debug, one unit at a time and its lines at once, between the request lines, as fleet printed them
    const out = new DeferredOutput(ctx.out, ctx.debug === true);
    const uctx: CommandContext = { ...ctx, out };
    const { earlierOk, done } = gate.enter();
    const arg = withDefaultType(raw);
    let state: DesiredState | false = false;
    let options: ApiUnitOption[] | undefined;
    try {
      state = await needsCreation(uctx, arg, opts);
      if (state !== false) {
        options = await unitFileFor(uctx, arg, opts, raw);
        checkNewUnit(uctx, names[i]!, options);
      }
      done(true);
    } catch (error) {
      done(false);
      return { out, state, error };
    }
    if (state === false || options === undefined || !(await earlierOk)) return { out, state: false };
    try {
      await putUnit(uctx, names[i]!, options, state);
    } catch (error) {
      return { out, state, error };
    }
    return { out, state };
  };
  await inOrderLimited(args, independent(names) && !ctx.debug ? UNIT_CONCURRENCY : 1, one, (r, _raw, i) => {
    if (r.status === 'rejected') throw r.reason;
    r.value.out.flush();
    if (r.value.error !== undefined) throw r.value.error;
    const state = r.value.state;
    if (state !== false) created.set(state, [...(created.get(state) ?? []), names[i]!]);
  });
  let err: Error | undefined;
  for (const [state, names] of created) {
    err ??= await waitForUnitStates(ctx, names, 'submit', state, opts.blockAttempts);
  }
  if (err) {
    ctx.out.err(`Error waiting on unit creation: ${err.message}`);
    throw new FleetctlError('One or more errors creating units');
  }
}

/** A unit whose machine (a scheduled unit) or one of whose machines (a global unit) reports it failed. */
async function failedOnItsMachine(ctx: CommandContext, u: ApiUnit): Promise<boolean> {
  const global = isGlobalUnit(u.options);
  if (!u.machineID && !global) return false;
  try {
    const states = await ctx.client.unitStates(global ? { unitName: u.name } : { unitName: u.name, machineID: u.machineID! });
    return states.some((s) => s.systemdActiveState === 'failed');
  } catch (err) {
    passThrough(err);
    throw new FleetctlError(`error retrieving the state of unit ${u.name}: ${errorMessage(err)}`);
  }
}

/** fleet's findUnits: the registry units named by the arguments, in argument order; unknown names skipped. */
export async function findUnits(ctx: CommandContext, args: readonly string[]): Promise<ApiUnit[]> {
  const all = new Map((await ctx.client.units()).map((u) => [u.name, u]));
  const found: ApiUnit[] = [];
  for (const a of args) {
    const u = all.get(mangleName(a));
    if (u) found.push(u);
  }
  return found;
}

/** A unit without [X-Fleet] options: no placement of it depends on the order units are targeted in. */
function anyOrder(u: ApiUnit): boolean {
  return !u.options.some((o) => o.section === X_FLEET_SECTION);
}

/**
 * fleet's setTargetStateOfUnits: sets `state` on each unit not already there; returns those it changed. With
 * `raiseOnly`, a unit whose desired state is above `state` is left alone (`load` never stops a launched unit).
 * With `retryFailed`, a unit already launched that a machine reports failed is set `launched` again, which
 * asks the machines running it to reset and start it (fleet #1091); it is returned too, and listed in `retried`.
 */
export async function setTargetStates(
  ctx: CommandContext,
  names: readonly string[],
  state: DesiredState,
  opts: { raiseOnly?: boolean; retryFailed?: boolean; retried?: Set<string> } = {},
): Promise<ApiUnit[]> {
  const gate = new ReadGate();
  // Reads run concurrently. The engine places units in the order their targets appear, which matters only where
  // units compete for room ([X-Fleet] Conflicts: `start web@1 ... web@4` with room for three places web@1..3): so a
  // unit is written at once while it and every unit before it has no [X-Fleet] option (any order places them
  // alike), and otherwise only once every earlier write is done, in argument order, as fleet wrote them.
  let earlierWritten: Promise<void> = Promise.resolve();
  let earlierFree: Promise<boolean> = Promise.resolve(true);
  const one = async (name: string): Promise<{ u: ApiUnit; set: boolean; retried: boolean }> => {
    const allBefore = earlierWritten;
    const freeBefore = earlierFree;
    let written = (): void => undefined;
    let free = (_: boolean): void => undefined;
    const mine = new Promise<void>((r) => (written = r));
    earlierWritten = Promise.all([allBefore, mine]).then(() => undefined);
    const mineFree = new Promise<boolean>((r) => (free = r));
    earlierFree = freeBefore.then((ok) => (ok ? mineFree : false));
    try {
      return await oneInOrder(name, { allBefore, freeBefore, free });
    } finally {
      free(false);
      written();
    }
  };
  const oneInOrder = async (
    name: string,
    turn: { allBefore: Promise<void>; freeBefore: Promise<boolean>; free(ok: boolean): void },
  ): Promise<{ u: ApiUnit; set: boolean; retried: boolean }> => {
    const { earlierOk, done } = gate.enter();
    let u: ApiUnit | undefined;
    let retried = false;
    /** the unit has no [X-Fleet] options: its write need not wait for the earlier ones */
    let free = false;
    try {
      try {
        u = await ctx.client.unit(name);
      } catch (err) {
        passThrough(err);
        throw new FleetctlError(`error retrieving unit ${name} from registry: ${errorMessage(err)}`);
      }
      if (!u) throw new FleetctlError(`unable to find unit ${name}`);
      free = anyOrder(u);
      turn.free(free);
      const current = u.desiredState ?? 'inactive';
      if (opts.raiseOnly && STATE_RANK[current] > STATE_RANK[state]) {
        done(true);
        return { u, set: false, retried };
      }
      if (current === state) {
        if (!(opts.retryFailed && state === 'launched' && (await failedOnItsMachine(ctx, u)))) {
          debugLog(ctx, 'fleetctl.go:923', `Unit(${u.name}) already ${current}, skipping.`);
          done(true);
          return { u, set: false, retried };
        }
        retried = true;
      }
      done(true);
    } catch (err) {
      done(false);
      throw err;
    }
    if (!(await earlierOk)) return { u, set: false, retried: false };
    if (!(free && (await turn.freeBefore))) await turn.allBefore;
    debugLog(ctx, 'fleetctl.go:927', `Setting Unit(${u.name}) target state to ${state}`);
    try {
      await ctx.client.setDesiredState(u.name, state);
    } catch (err) {
      passThrough(err);
      throw new FleetctlError(err instanceof ApiRequestError ? err.message : `setting target state of ${name}: ${errorMessage(err)}`);
    }
    return { u, set: true, retried };
  };
  const triggered: ApiUnit[] = [];
  await inOrderLimited(names, new Set(names).size === names.length && !ctx.debug ? UNIT_CONCURRENCY : 1, one, (r) => {
    if (r.status === 'rejected') throw r.reason;
    if (r.value.retried) opts.retried?.add(r.value.u.name);
    if (r.value.set) triggered.push(r.value.u);
  });
  return triggered;
}
