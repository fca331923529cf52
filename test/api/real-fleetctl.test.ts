/**
 * Real fleetctl v1.0 (`--driver=API`) against our API prints byte for byte what our fleetctl prints, for units
 * whose texts need Go's escaping (`& < >`) and carry an empty value, machines with and without metadata.
 * Needs ../shared/tools/fleet-v1.0.0 (FLEET_V1_DIR overrides); skipped only when that folder is absent.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../harness/etcd.js';
import { fleetctl } from '../fleetctl/helpers.js';
import { M1, M2, addMachine, publishState, scheduleUnit, startApi, submitUnit } from './fixture.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = process.env.FLEET_V1_DIR ?? path.resolve(root, '../shared/tools/fleet-v1.0.0');
const real = path.join(dir, 'fleetctl');

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function runReal(args: readonly string[]): Promise<Out> {
  return new Promise((resolve) => {
    execFile(real, args, { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

if (!existsSync(real)) {
  t.test('real fleetctl and ours print the same from our API', { skip: `real fleetctl v1.0 not found at ${real}` }, async () => undefined);
} else {
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd });
  const reg = f.registry;
  const p1 = await addMachine(t, reg, M1, '198.18.0.11', { role: 'web<&>', az: 'a' });
  await addMachine(t, reg, M2, '');
  await submitUnit(reg, 'amp.service', '[Unit]\nDescription=Tom & Jerry <cartoon>\n\n[Service]\nEnvironment=\nExecStart=/bin/sh -c "echo a > /dev/null && true"\n', 'launched');
  await submitUnit(reg, 'idle.service', '[Service]\nExecStart=/bin/true\n');
  await scheduleUnit(reg, 'amp.service', M1);
  await publishState(reg, p1, 'amp.service');

  const endpoint = `unix://${f.socket}`;
  const cases: string[][] = [
    ['list-machines'],
    ['list-machines', '--full'],
    ['list-units'],
    ['list-units', '--full', '--fields=unit,load,active,sub,hash,machine'],
    ['list-unit-files'],
    ['list-unit-files', '--full', '--fields=unit,desc,hash,dstate,state,target'],
    ['cat', 'amp.service'],
    ['cat', 'nope.service'],
  ];
  t.test('real fleetctl and ours print the same from our API', async (t) => {
    for (const args of cases) {
      const theirs = await runReal(['--driver=API', `--endpoint=${endpoint}`, ...args]);
      const ours = await fleetctl(args, { env: { FLEETCTL_ENDPOINT: endpoint } });
      t.same(ours, theirs, args.join(' '));
    }
  });
}
