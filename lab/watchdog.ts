/**
 * Started detached by the test harness (test/harness/lab.ts): if the test process dies while its cluster still exists,
 * tear the cluster down. Exits as soon as the cluster is gone.
 * argv: <test pid> <test pid start time> <cluster name> <state dir>
 */
import { existsSync } from 'node:fs';
import { Lab } from './cluster.js';
import { isAlive, sleep } from './proc.js';

const [pid, start, name, stateDir] = process.argv.slice(2);
const parent = { pid: Number(pid), start: Number(start) };

let seen = false;
for (;;) {
  await sleep(1000);
  const exists = existsSync(stateDir!);
  seen ||= exists;
  if (seen && !exists) break;
  if (isAlive(parent)) continue;
  if (!exists) break;
  try {
    await new Lab({ name, stateDir }).down();
  } catch (err) {
    process.stderr.write(`lab-watchdog: down of ${name} failed: ${String(err)}\n`);
  }
  break;
}
