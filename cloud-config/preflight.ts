/**
 * Checks a plan against the target's accounts before anything is changed: owners and groups must exist (or be
 * created by the plan's own users), so a bad name fails up front instead of half-way through applying. Pure.
 */
import { findUser, parseOwner, type Accounts } from './accounts.js';
import type { Diagnostic } from './diagnostics.js';
import type { Plan } from './plan.js';

export function preflight(plan: Plan, accounts: Accounts): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const error = (path: string, message: string): void => {
    problems.push({ severity: 'error', path, message });
  };
  const newUsers = new Map<string, { userGroup: boolean }>();
  const groupExists = (g: string): boolean =>
    /^[0-9]+$/.test(g) || accounts.groups.some((e) => e.name === g) || newUsers.get(g)?.userGroup === true;

  for (const step of plan.steps) {
    if (step.kind !== 'user' || findUser(accounts, step.user.name)) continue;
    const u = step.user;
    newUsers.set(u.name, { userGroup: !u.noUserGroup && u.primaryGroup === undefined });
    if (u.primaryGroup !== undefined && !groupExists(u.primaryGroup)) {
      error(`${u.source}.primary_group`, `group ${JSON.stringify(u.primaryGroup)} does not exist`);
    }
    u.groups.forEach((g, i) => {
      if (!groupExists(g)) error(`${u.source}.groups[${i}]`, `group ${JSON.stringify(g)} does not exist`);
    });
  }

  for (const step of plan.steps) {
    if (step.kind !== 'write' || step.owner === undefined) continue;
    const spec = parseOwner(step.owner);
    const path = `${step.source}.owner`;
    if (typeof spec === 'string') {
      error(path, spec);
      continue;
    }
    if (spec.user !== undefined && !/^[0-9]+$/.test(spec.user) && !findUser(accounts, spec.user) && !newUsers.has(spec.user)) {
      error(path, `user ${JSON.stringify(spec.user)} does not exist (not in /etc/passwd and not created by users)`);
    }
    if (spec.group !== undefined && !groupExists(spec.group)) {
      error(path, `group ${JSON.stringify(spec.group)} does not exist (not in /etc/group and not created by users)`);
    }
  }
  return problems;
}
