/** Setting variables in /etc/environment while keeping its other lines (and their order). */

const ASSIGNMENT = /^([A-Za-z0-9_]+)=/;

export function mergeEnvironment(old: string, vars: Readonly<Record<string, string>>): string {
  const pending = new Map(Object.entries(vars));
  const lines = old === '' ? [] : old.replace(/\n$/, '').split('\n');
  const out = lines.map((line) => {
    const key = ASSIGNMENT.exec(line)?.[1];
    const value = key === undefined ? undefined : pending.get(key);
    if (key === undefined || value === undefined) return line;
    pending.delete(key);
    return `${key}=${value}`;
  });
  for (const key of [...pending.keys()].sort()) out.push(`${key}=${pending.get(key)!}`);
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
