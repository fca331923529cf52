/**
 * Rolling updates from fleetctl (our extension, docs/fleet-compat.md; README "Rolling updates"): `start --rolling`
 * creates a rollout of the named units' new texts and follows it (the engine leader drives it, so it goes on if
 * fleetctl exits); `rollout list|status|pause|resume|abort|follow` shows and steers rollouts. A failed rollout is
 * reported with the unit, its machine and the last lines of its journal there.
 */
import { UsageError, errorMessage } from '../../lib/errors.js';
import type { RolloutControl, RolloutStatus, RolloutUnitProgress } from '../../lib/rollout/types.js';
import { isTerminalPhase } from '../../lib/rollout/types.js';
import { rolloutKey } from '../../lib/rollout/core.js';
import { parseDuration } from '../../lib/fleet-options.js';
import { visible } from '../../lib/api/decode.js';
import { COUNT_RANGE, flagBool, flagNumber, flagString, type CommandSpec, type FlagSpec, type FlagValues } from '../command.js';
import type { ApiRollout } from '../client/types.js';
import type { CommandContext } from '../context.js';
import { checkLocalFiles, passThrough, unitFileFor } from '../create.js';
import { mangleName, withDefaultType } from '../unitfile.js';
import { formatTable } from '../tabwriter.js';
import { refuseBeforeCreating } from './target.js';
import { reportFailure } from './report.js';
import { CommandExit } from '../errors.js';

/** How often a follower reads the rollout. */
const FOLLOW_MS = 500;
/** How long a follower keeps trying to read a rollout while the API does not answer. */
const FOLLOW_RETRY_MS = 60_000;
/** Journal lines shown of a unit that failed a rollout. */
const JOURNAL_LINES = 15;

export const ROLLING_FLAGS: Record<string, FlagSpec> = {
  rolling: {
    type: 'boolean',
    default: false,
    describe: 'Replace running units with new versions in batches, each waiting until its units are active and healthy (a rollout, driven by the cluster; see fleetctl rollout).',
  },
  'max-unavailable': { type: 'number', default: 1, range: { ...COUNT_RANGE, min: 1 }, describe: 'With --rolling: at most this many of the units are unavailable at a time.' },
  'min-healthy-time': { type: 'string', default: '10s', describe: 'With --rolling: a replaced unit must stay active this long to count as healthy.' },
  'rollout-deadline': { type: 'string', default: '5m', describe: 'With --rolling: a replaced unit not healthy within this long fails the rollout.' },
  'no-rollback': { type: 'boolean', default: false, describe: 'With --rolling: on failure, leave the replaced units on the new version instead of rolling them back.' },
};

function durationFlag(flags: FlagValues, name: string): number {
  const raw = flagString(flags, name);
  const s = parseDuration(raw);
  if (s === undefined) throw new UsageError(`invalid argument ${JSON.stringify(raw)} for "--${name}" flag: expected a duration such as 10s, 2m or 1h30m`);
  return Math.round(s * 1000);
}

/** "6 units", or for a global unit "global unit g.service on 3 machines". */
function describeSet(s: ApiRollout['spec']): string {
  const n = s.units.length;
  const first = s.units[0];
  if (first?.machine !== undefined) return `global unit ${first.name} on ${n} machine${n === 1 ? '' : 's'}`;
  return `${n} unit${n === 1 ? '' : 's'}`;
}

function secs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** `fleetctl start --rolling UNIT...`: create the rollout, then follow it unless --no-block. */
export async function startRolling(ctx: CommandContext, args: readonly string[], flags: FlagValues): Promise<number> {
  refuseBeforeCreating(ctx, args, flags);
  const minHealthyMs = durationFlag(flags, 'min-healthy-time');
  const deadlineMs = durationFlag(flags, 'rollout-deadline');
  if (deadlineMs <= minHealthyMs) throw new UsageError('--rollout-deadline must be longer than --min-healthy-time');
  let rollout: ApiRollout;
  try {
    checkLocalFiles(ctx, args);
    const units = [];
    for (const raw of args) {
      const arg = withDefaultType(raw);
      units.push({ name: mangleName(arg), options: await unitFileFor(ctx, arg, { command: 'start', replace: true, blockAttempts: 0 }, raw) });
    }
    rollout = await ctx.client.createRollout({
      units,
      maxUnavailable: flagNumber(flags, 'max-unavailable', 1),
      minHealthyMs,
      deadlineMs,
      rollback: !flagBool(flags, 'no-rollback'),
    });
  } catch (err) {
    reportFailure(ctx, 'Error starting rollout', err);
  }
  const s = rollout.spec;
  ctx.out.out(
    `Rollout ${s.id} started: ${describeSet(s)}, at most ${s.maxUnavailable} unavailable at a time, ` +
      `healthy after ${secs(s.minHealthyMs)}`,
  );
  if (flagBool(flags, 'no-block')) {
    ctx.out.out(`Follow it with: fleetctl rollout status ${s.id}`);
    return 0;
  }
  return follow(ctx, s.id);
}

function describeUnit(name: string, p: RolloutUnitProgress): string | undefined {
  const where = p.machine ? ` on ${p.machine}` : '';
  switch (p.state) {
    case 'updating':
      return `${name}: replaced${where}, waiting until it is active and healthy`;
    case 'healthy':
      return `${name}: healthy${where}`;
    case 'skipped':
      return `${name}: skipped${where} (the machine left)`;
    case 'reverting':
      return `${name}: rolling back${where}`;
    case 'reverted':
      return `${name}: rolled back${where}`;
    default:
      return undefined;
  }
}

/** Prints progress until the rollout is finished; 0 when it succeeded. */
async function follow(ctx: CommandContext, id: string): Promise<number> {
  let last: RolloutStatus | undefined;
  let failingSince: number | undefined;
  for (;;) {
    let r: ApiRollout | undefined;
    try {
      r = await ctx.client.rollout(id);
      failingSince = undefined;
    } catch (err) {
      // the fleetd we talk to may be restarting (or was the leader, killed): the rollout goes on without us
      const now = ctx.clock.now();
      if (failingSince !== undefined && now - failingSince > FOLLOW_RETRY_MS) reportFailure(ctx, `Error reading rollout ${id}`, err);
      if (failingSince === undefined) {
        failingSince = now;
        ctx.out.err(`Cannot read rollout ${id} (${errorMessage(err)}); retrying for ${FOLLOW_RETRY_MS / 1000}s (the rollout goes on in the cluster)`);
      }
      await ctx.clock.sleep(FOLLOW_MS);
      continue;
    }
    if (!r) {
      ctx.out.err(`Rollout ${id} no longer exists`);
      return 1;
    }
    const st = r.status;
    if (st) {
      if (st.phase !== last?.phase && st.phase !== 'running' && !isTerminalPhase(st.phase)) ctx.out.out(`Rollout ${id} ${st.phase}`);
      for (const u of r.spec.units) {
        const key = rolloutKey(u);
        const p = st.units[key];
        if (!p || p.state === last?.units[key]?.state) continue;
        const line = describeUnit(u.name, p);
        if (line) ctx.out.out(line);
      }
      last = st;
      if (isTerminalPhase(st.phase)) return finished(ctx, r);
    }
    await ctx.clock.sleep(FOLLOW_MS);
  }
}

async function finished(ctx: CommandContext, r: ApiRollout): Promise<number> {
  const st = r.status!;
  const id = r.spec.id;
  if (st.phase === 'succeeded') {
    ctx.out.out(`Rollout ${id} succeeded: ${describeSet(r.spec)} on the new version`);
    return 0;
  }
  if (st.phase === 'aborted') {
    ctx.out.err(`Rollout ${id} was aborted`);
    return 1;
  }
  const f = st.failure;
  ctx.out.err(`Rollout ${id} ${st.phase}: ${f ? `unit ${f.unit}${f.machine ? ` on machine ${f.machine}` : ''}: ${f.reason}` : 'no reason recorded'}`);
  if (st.rollbackFailure) ctx.out.err(`Rollback failed: unit ${st.rollbackFailure.unit}: ${st.rollbackFailure.reason}`);
  if (f) await journalTail(ctx, f.unit, f.machine);
  return 1;
}

/** The last journal lines of the failed unit on its machine; a failure to read them is only reported. */
async function journalTail(ctx: CommandContext, unit: string, machine: string | undefined): Promise<void> {
  try {
    const stream = await ctx.client.journal(unit, { lines: JOURNAL_LINES, follow: false, output: 'short' }, machine ? { machineID: machine } : {});
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    ctx.out.err(`Last journal lines of ${unit}${machine ? ` on ${machine}` : ''}:`);
    // on stderr with the report (stdout has the progress); control characters escaped
    for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) if (line !== '') ctx.out.err(`  ${visible(line, false)}`);
  } catch (err) {
    passThrough(err);
    ctx.out.err(`(journal of ${unit} unavailable: ${errorMessage(err)})`);
  }
}

function progressOf(r: ApiRollout): string {
  const states = Object.values(r.status?.units ?? {});
  const healthy = states.filter((p) => p.state === 'healthy').length;
  return `${healthy}/${r.spec.units.length} healthy`;
}

function printStatus(ctx: CommandContext, r: ApiRollout): void {
  const s = r.spec;
  const st = r.status;
  ctx.out.out(`Rollout:          ${s.id}`);
  ctx.out.out(`Phase:            ${st?.phase ?? 'waiting for the engine leader'}${r.control && st && !isTerminalPhase(st.phase) ? ` (asked to ${r.control})` : ''}`);
  ctx.out.out(`Created:          ${s.createdAt}`);
  ctx.out.out(`Max unavailable:  ${s.maxUnavailable}`);
  ctx.out.out(`Healthy after:    ${secs(s.minHealthyMs)}`);
  ctx.out.out(`Deadline:         ${secs(s.deadlineMs)}`);
  ctx.out.out(`Rollback:         ${s.rollback ? 'on failure' : 'no'}`);
  if (st?.failure) ctx.out.out(`Failure:          ${st.failure.unit}${st.failure.machine ? ` on ${st.failure.machine}` : ''}: ${st.failure.reason}`);
  if (st?.rollbackFailure) ctx.out.out(`Rollback failure: ${st.rollbackFailure.unit}: ${st.rollbackFailure.reason}`);
  const rows = [['UNIT', 'STATE', 'MACHINE']];
  for (const u of s.units) {
    const p = st?.units[rolloutKey(u)];
    rows.push([u.name, p?.state ?? 'pending', p?.machine ?? u.machine ?? '-']);
  }
  ctx.out.out(formatTable(rows).replace(/\n$/, ''));
}

async function latest(ctx: CommandContext): Promise<ApiRollout | undefined> {
  const all = await ctx.client.rollouts();
  return all[all.length - 1];
}

const ACTIONS = ['list', 'status', 'follow', 'pause', 'resume', 'abort'] as const;

export const rolloutCommand: CommandSpec = {
  name: 'rollout',
  usage: 'rollout list | status [ID] | follow [ID] | pause ID | resume ID | abort ID',
  summary: 'Show and steer rolling updates started with start --rolling.',
  description: `A rollout replaces the text of running units in batches, driven by the cluster's engine
leader: it goes on when fleetctl exits. Without an ID, status and follow use the newest rollout.

  list      every rollout kept (finished ones for a day)
  status    the rollout's phase, and each unit's progress
  follow    print progress until the rollout is finished (exit 0 when it succeeded)
  pause     start no more units (units being replaced finish)
  resume    continue a paused rollout
  abort     stop for good; replaced units keep the new version`,
  flags: {},
  needsClient: true,
  async run(ctx, args) {
    const [action, id, ...rest] = args;
    if (!action || !(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`rollout: expected one of ${ACTIONS.join(', ')}`);
    if (rest.length > 0) throw new UsageError('rollout: too many arguments');
    try {
      if (action === 'list') {
        if (id !== undefined) throw new UsageError('rollout list takes no argument');
        const all = await ctx.client.rollouts();
        const rows = [['ID', 'PHASE', 'UNITS', 'PROGRESS', 'CREATED']];
        for (const r of all) rows.push([r.spec.id, r.status?.phase ?? 'waiting', String(r.spec.units.length), progressOf(r), r.spec.createdAt]);
        ctx.out.out(formatTable(rows).replace(/\n$/, ''));
        return 0;
      }
      if (action === 'status' || action === 'follow') {
        const r = id === undefined ? await latest(ctx) : await ctx.client.rollout(id);
        if (!r) {
          ctx.out.err(id === undefined ? 'No rollouts' : `Rollout ${id} does not exist`);
          return 1;
        }
        if (action === 'follow') return await follow(ctx, r.spec.id);
        printStatus(ctx, r);
        return 0;
      }
      if (id === undefined) throw new UsageError(`rollout ${action} needs the rollout's ID (see fleetctl rollout list)`);
      await ctx.client.controlRollout(id, action as RolloutControl);
      ctx.out.out(`Asked rollout ${id} to ${action}`);
      return 0;
    } catch (err) {
      if (err instanceof UsageError || err instanceof CommandExit) throw err;
      reportFailure(ctx, `Error with rollout ${id ?? ''}`.trimEnd(), err);
    }
  },
};
