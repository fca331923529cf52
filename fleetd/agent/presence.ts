/**
 * The agent's presence policy as a pure function of (presence state, now, what is scheduled and what runs here):
 * which units the reconcile may act on and in which desired state, so each rule is a row of a table test
 * (test/agent/presence.test.ts) with no etcd, systemd or timers. The rules (docs/architecture.md, docs/reliability.md):
 * - rejoin hold: after fleetd starts or the machine registers again, units here that are not scheduled here are
 *   kept for rejoinSettleMs: the engine may have unscheduled them only because the machine was gone;
 * - moved away: a unit whose job the engine placed on another machine meanwhile is a second copy: not held;
 * - presence lost: nothing is unloaded for it (only schedules actually read are acted on);
 * - StopOnDisconnect fence: while the machine is unregistered, or no keep-alive succeeded for AT_RISK_SHARE of
 *   agent_ttl, units with StopOnDisconnect=true are stopped (kept loaded), before the engine starts them elsewhere;
 * - adoption: a unit found running when fleetd started, whose desired state is loaded, is taken as loaded (a
 *   restarted fleetd never stops a unit).
 */
import type { CurrentUnit, DesiredUnit } from './tasks.js';

/**
 * StopOnDisconnect units stop once no keep-alive succeeded for this share of agent_ttl (more than two missed
 * keep-alives: etcd3 sends one every third of the TTL), so before etcd expires the lease and the engine starts
 * them elsewhere. Checked every tenth of the TTL.
 */
export const AT_RISK_SHARE = 0.75;
export const AT_RISK_CHECKS_PER_TTL = 10;
/** The agent reconciles this long after the rejoin hold ends (so that the hold has surely ended then). */
export const HOLD_END_SLACK_MS = 10;

/** What the agent knows about its machine's registration (replaced, never changed in place). */
export interface PresenceState {
  /** the registration is gone, until the machine registered again */
  readonly down: boolean;
  /** clock time until which units here that are not scheduled here are kept (the rejoin hold) */
  readonly holdUntil: number;
  /** units here whose job the engine has placed on another machine since: never held, stopped at once */
  readonly movedAway: ReadonlySet<string>;
}

/** Registered, no hold. */
export const REGISTERED: PresenceState = { down: false, holdUntil: 0, movedAway: new Set() };

/** The machine (re)joined at `now`: hold for `settleMs`, except the units found placed elsewhere. */
export function joined(now: number, settleMs: number, movedAway: ReadonlySet<string>): PresenceState {
  return { down: false, holdUntil: now + settleMs, movedAway };
}

/** The registration is gone: nothing not scheduled here is unloaded until it is back. */
export function lost(p: PresenceState): PresenceState {
  return { ...p, down: true };
}

/** The lease's keep-alive record, as MachinePresence reports it. */
export interface Liveness {
  /** ms since the last successful keep-alive; Infinity once lost */
  readonly silentMs: number;
  readonly ttlSeconds: number;
}

/** The machine is unregistered, or its keep-alives have failed long enough that it soon will be. */
export function atRisk(p: PresenceState, live: Liveness): boolean {
  return p.down || live.silentMs > live.ttlSeconds * 1000 * AT_RISK_SHARE;
}

/** How often the agent checks atRisk() between reconciles, ms. */
export function atRiskCheckMs(ttlSeconds: number): number {
  return Math.max(100, (ttlSeconds * 1000) / AT_RISK_CHECKS_PER_TTL);
}

export interface PolicyInput {
  readonly presence: PresenceState;
  readonly live: Liveness;
  readonly now: number;
  /** what should run here (schedule and global units, refused ones taken out) */
  readonly desired: ReadonlyMap<string, DesiredUnit>;
  /** what the agent has loaded here */
  readonly current: ReadonlyMap<string, CurrentUnit>;
  /** units found running when fleetd started, before the first reconcile */
  readonly adopted: ReadonlySet<string>;
  /** whether these contents say StopOnDisconnect=true (false while unknown) */
  readonly stopOnDisconnect: (name: string, hash: string) => boolean;
}

export interface PolicyDecision {
  readonly atRisk: boolean;
  /** `desired` with the fenced StopOnDisconnect units set to loaded */
  readonly desired: ReadonlyMap<string, DesiredUnit>;
  /** launched units the fence stops now */
  readonly fenced: readonly string[];
  /** adopted units that take their desired state `loaded` as theirs (their current state becomes loaded) */
  readonly adopt: readonly string[];
  /** the units the reconcile may act on, adoptions applied, held units left out */
  readonly actOn: ReadonlyMap<string, CurrentUnit>;
  /** units kept though not scheduled here */
  readonly held: readonly string[];
  /** while registered with units held: when the hold ends (the agent reconciles again then) */
  readonly holdEndsAt: number | undefined;
}

export function presencePolicy(input: PolicyInput): PolicyDecision {
  const { presence, now, current } = input;
  const risk = atRisk(presence, input.live);
  const desired = new Map(input.desired);
  const fenced: string[] = [];
  if (risk) {
    for (const [name, d] of desired) {
      if (d.state !== 'launched' || !input.stopOnDisconnect(name, d.hash)) continue;
      desired.set(name, { ...d, state: 'loaded' });
      if (current.get(name)?.state === 'launched') fenced.push(name);
    }
  }
  const adopt: string[] = [];
  const actOn = new Map(current);
  for (const name of input.adopted) {
    const want = desired.get(name);
    const cur = current.get(name);
    if (want && cur && want.hash === cur.hash && want.state === 'loaded' && cur.state === 'launched') {
      adopt.push(name);
      actOn.set(name, { ...cur, state: 'loaded' });
    }
  }
  const held: string[] = [];
  if (presence.down || now < presence.holdUntil) {
    for (const name of current.keys()) {
      if (desired.has(name) || (!presence.down && presence.movedAway.has(name))) continue;
      actOn.delete(name);
      held.push(name);
    }
  }
  const holdEndsAt = held.length > 0 && !presence.down ? presence.holdUntil : undefined;
  return { atRisk: risk, desired, fenced, adopt, actOn, held, holdEndsAt };
}
