/**
 * Users and groups of the target root read from its own /etc/passwd, /etc/group and /etc/shadow (never the
 * host's name service, so a --root tree resolves its own names), and `owner` specs as write_files gives them.
 */

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly gecos: string;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface Accounts {
  readonly users: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
  /** user name -> password hash field of /etc/shadow */
  readonly shadow: ReadonlyMap<string, string>;
}

function fields(text: string, min: number): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= min);
}

export function parsePasswd(text: string): PasswdEntry[] {
  return fields(text, 7).map(([name, , uid, gid, gecos, home, shell]) => ({
    name: name!,
    uid: Number(uid),
    gid: Number(gid),
    gecos: gecos!,
    home: home!,
    shell: shell!,
  }));
}

export function parseGroup(text: string): GroupEntry[] {
  return fields(text, 4).map(([name, , gid, members]) => ({
    name: name!,
    gid: Number(gid),
    members: members ? members.split(',').filter((m) => m !== '') : [],
  }));
}

export function parseShadow(text: string): Map<string, string> {
  return new Map(fields(text, 2).map(([name, hash]) => [name!, hash!]));
}

export function findUser(accounts: Accounts, name: string): PasswdEntry | undefined {
  return accounts.users.find((u) => u.name === name);
}

/** An `owner` value: `user`, `user:group`, `user:` (the user's login group) or `:group`; names or numeric ids. */
export interface OwnerSpec {
  readonly user?: string;
  readonly group?: string;
  /** `user:`: the group is the user's login group. */
  readonly loginGroup: boolean;
}

const NAME = /^(?:[0-9]+|[A-Za-z_][A-Za-z0-9._-]*\$?)$/;

/** The largest user or group id: 2^32-1 is (uid_t)-1, which chown reads as "leave unchanged". */
export const MAX_ID = 4294967294;

/** An error message when a numeric user or group id is out of range. */
export function idProblem(id: string): string | undefined {
  return /^[0-9]+$/.test(id) && Number(id) > MAX_ID ? `${JSON.stringify(id)} is too large for a user or group id (at most ${MAX_ID})` : undefined;
}

/** The parsed spec, or an error message saying what form is expected. */
export function parseOwner(owner: string): OwnerSpec | string {
  const bad = `${JSON.stringify(owner)} is not "user", "user:group" or ":group"`;
  const parts = owner.split(':');
  if (parts.length > 2) return bad;
  const [user = '', group] = parts;
  if (user === '' && (group === undefined || group === '')) return bad;
  if (user !== '' && !NAME.test(user)) return bad;
  if (group !== undefined && group !== '' && !NAME.test(group)) return bad;
  const tooLarge = idProblem(user) ?? idProblem(group ?? '');
  if (tooLarge) return tooLarge;
  return {
    ...(user !== '' ? { user } : {}),
    ...(group !== undefined && group !== '' ? { group } : {}),
    loginGroup: group === '',
  };
}

export interface ResolvedOwner {
  readonly uid?: number;
  readonly gid?: number;
}

/** Numeric ids for a spec against the target's accounts, or an error message naming what is missing. */
export function resolveOwner(spec: OwnerSpec, accounts: Accounts): ResolvedOwner | string {
  let uid: number | undefined;
  let gid: number | undefined;
  if (spec.user !== undefined) {
    const u = /^[0-9]+$/.test(spec.user)
      ? accounts.users.find((e) => e.uid === Number(spec.user))
      : findUser(accounts, spec.user);
    if (!u && !/^[0-9]+$/.test(spec.user)) return `user ${JSON.stringify(spec.user)} does not exist`;
    uid = u ? u.uid : Number(spec.user);
    if (spec.loginGroup) {
      if (!u) return `user ${spec.user} has no passwd entry, so "${spec.user}:" has no login group`;
      gid = u.gid;
    }
  }
  if (spec.group !== undefined) {
    if (/^[0-9]+$/.test(spec.group)) gid = Number(spec.group);
    else {
      const g = accounts.groups.find((e) => e.name === spec.group);
      if (!g) return `group ${JSON.stringify(spec.group)} does not exist`;
      gid = g.gid;
    }
  }
  return { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) };
}
