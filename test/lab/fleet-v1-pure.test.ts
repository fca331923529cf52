/**
 * The fleet-v1 flavor's pure parts: where the fleet v1.0.0 binaries are looked for (FLEET_V1_DIR), the one-line
 * reason a test or benchmark skips without them, and the FLEET_* drop-in and socket unit it writes into machines.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fleetV1Dir, fleetV1DropIn, fleetV1Missing, fleetV1Socket, fleetV1Unit, FLEETD_V1_PATH } from '../../lab/fleet-v1.js';

t.test('FLEET_V1_DIR picks the folder; a missing binary is named in one line', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-v1-dir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const saved = process.env.FLEET_V1_DIR;
  t.teardown(() => {
    if (saved === undefined) delete process.env.FLEET_V1_DIR;
    else process.env.FLEET_V1_DIR = saved;
  });
  process.env.FLEET_V1_DIR = dir;
  t.equal(fleetV1Dir('/nowhere'), dir);
  t.equal(fleetV1Missing('/nowhere'), `fleet v1.0.0 fleetd and fleetctl not found in ${dir} (set FLEET_V1_DIR)`);
  writeFileSync(path.join(dir, 'fleetd'), '');
  t.equal(fleetV1Missing('/nowhere'), `fleet v1.0.0 fleetctl not found in ${dir} (set FLEET_V1_DIR)`);
  writeFileSync(path.join(dir, 'fleetctl'), '');
  t.equal(fleetV1Missing('/nowhere'), undefined, 'nothing missing');
});

t.test('fleet v1 is configured by FLEET_* variables only, its API by a socket unit', async (t) => {
  const machine = { name: 'm1', ip: '198.18.5.11', machineId: 'a'.repeat(32), metadata: '' };
  const dropIn = fleetV1DropIn({ etcdServers: ['http://198.18.5.1:2379'], machine, agentTtl: '30s' });
  t.match(dropIn, /^\[Service\]$/m);
  t.match(dropIn, /^Environment="FLEET_ETCD_SERVERS=http:\/\/198\.18\.5\.1:2379"$/m);
  t.match(dropIn, /^Environment="FLEET_PUBLIC_IP=198\.18\.5\.11"$/m);
  t.match(dropIn, /^Environment="FLEET_AGENT_TTL=30s"$/m);
  t.notMatch(dropIn, /FLEET_METADATA/, 'no metadata variable without metadata');
  t.match(fleetV1DropIn({ etcdServers: ['http://e:2379'], machine: { ...machine, metadata: 'role=web,az=1' } }), /^Environment="FLEET_METADATA=role=web,az=1"$/m);
  const socket = fleetV1Socket(machine.ip);
  t.match(socket, /^ListenStream=\/var\/run\/fleet\.sock$/m);
  t.match(socket, /^ListenStream=198\.18\.5\.11:49153$/m);
  t.match(socket, /^Service=fleet\.service$/m);
  const unit = fleetV1Unit();
  t.match(unit, new RegExp(`^ExecStart=${FLEETD_V1_PATH}$`, 'm'), 'no command-line options: fleetd v1.0.0 ignores them');
  t.match(unit, /^Requires=fleet\.socket$/m);
});
