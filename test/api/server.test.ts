import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { activationFds, parseHostPort } from '../../fleetd/api/listeners.js';
import { HELLO, request, startActivated, startApi, submitUnit } from './fixture.js';

const etcd = await startEtcd(t);

t.test('metrics: requests, registry operations, engine leader gauge', async (t) => {
  let leader = true;
  const f = await startApi(t, { etcd, server: { isEngineLeader: () => leader } });
  await request(f, 'GET', '/fleet/v1/units');
  await request(f, 'GET', '/fleet/v1/units/x.service');
  await request(f, 'GET', '/nope');
  f.server.metrics.registryOp('agent_publish', 0.02, true);
  const m = await request(f, 'GET', '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers['content-type'], /^text\/plain; version=0.0.4/);
  t.match(m.text, /^fleet_api_request_count_total\{method="GET",route="\/fleet\/v1\/units",code="200"\} 1$/m);
  t.match(m.text, /^fleet_api_request_count_total\{method="GET",route="\/fleet\/v1\/units\/\{name\}",code="404"\} 1$/m, 'routes, not unit names');
  t.match(m.text, /^fleet_api_request_count_total\{method="GET",route="unknown",code="404"\} 1$/m);
  t.match(m.text, /^fleet_registry_operation_count_total\{type="get_all"\} 1$/m);
  t.match(m.text, /^fleet_registry_operation_count_total\{type="get"\} 1$/m);
  t.match(m.text, /^fleet_registry_operation_failed_count_total\{type="agent_publish"\} 1$/m);
  t.match(m.text, /^fleet_registry_operation_duration_second_bucket\{ops="get",le="\+Inf"\} 1$/m);
  t.match(m.text, /^# TYPE fleet_engine_leader gauge\nfleet_engine_leader 1$/m);
  leader = false;
  t.match((await request(f, 'GET', '/metrics')).text, /^fleet_engine_leader 0$/m);
});

t.test('unix socket: mode 0660, stale socket replaced, live one refused, non-socket refused', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'fleet.sock');

  // A killed fleetd leaves its socket file behind.
  await new Promise((r) =>
    spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`]).on('exit', r),
  );
  t.ok(existsSync(sock), 'stale socket file left behind');
  const f = await startApi(t, { etcd, config: { apiSocket: sock } });
  t.equal(statSync(sock).mode & 0o777, 0o660);
  t.equal((await request({ socket: sock }, 'GET', '/fleet/v1/units')).status, 200, 'stale socket file replaced');

  await t.rejects(startApi(t, { etcd, config: { apiSocket: sock } }), /another process is serving on .*fleet\.sock/);
  t.equal((await request({ socket: sock }, 'GET', '/fleet/v1/units')).status, 200, 'first server unaffected');

  const file = path.join(dir, 'file');
  writeFileSync(file, 'x');
  await t.rejects(startApi(t, { etcd, config: { apiSocket: file } }), /exists and is not a socket/);

  await f.server.close();
  t.notOk(existsSync(sock), 'socket removed on close');
});

t.test('listener helpers', async (t) => {
  t.same(activationFds({ LISTEN_FDS: '2', LISTEN_PID: String(process.pid) }), [3, 4]);
  t.same(activationFds({ LISTEN_FDS: '2', LISTEN_PID: '1' }), [], 'meant for another process');
  t.same(activationFds({}), []);
  t.same(parseHostPort('0.0.0.0:49153'), { host: '0.0.0.0', port: 49153 });
  t.same(parseHostPort(':49153'), { host: undefined, port: 49153 });
  t.same(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  t.throws(() => parseHostPort('nohost'), /not host:port/);
});

t.test('systemd socket activation: serves on fd 3 and ignores api_socket', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-act-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'activated.sock');
  const parent = net.createServer();
  await new Promise<void>((r) => parent.listen(sock, r));
  const prefix = `/fleet-activation-${process.pid}/`;
  const f = await startApi(t, { etcd, prefix });
  await submitUnit(f.registry, 'seen.service', HELLO);

  const { proc, reported } = await startActivated(t, [parent], { TEST_ETCD: etcd.endpoint, TEST_PREFIX: prefix });
  t.same(reported, { listeners: [{ kind: 'unix', activated: true }], env: null }, 'LISTEN_* consumed');
  const r = await request({ socket: sock }, 'GET', '/fleet/v1/units');
  t.equal(r.headers.server, 'fleetd/activated');
  t.match(r.json, { units: [{ name: 'seen.service' }] });
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
});

t.test('an unexpected handler error is a 500 JSON body, and the server keeps serving', async (t) => {
  const { createApiServer } = await import('../../fleetd/api/server.js');
  const { defaultConfig } = await import('../../fleetd/config.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-500-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'api.sock');
  const boom = async (): Promise<never> => {
    throw new TypeError('cannot read properties of undefined (reading "x")');
  };
  const server = createApiServer({
    backend: {
      listUnits: boom,
      getUnit: boom,
      putUnit: boom,
      setDesiredState: boom,
      destroyUnit: boom,
      listUnitStates: async () => [],
      listMachines: boom,
      setMachineMetadata: boom,
      clusterState: boom,
      requestRestart: boom,
      getRestartRequest: boom,
      createRollout: boom,
      getRollout: boom,
      listRollouts: boom,
      controlRollout: boom,
    },
    config: { ...defaultConfig(), apiSocket: socket, apiListen: '' },
    machineId: 'm',
    version: 'x',
    env: {},
  });
  await server.listen();
  t.teardown(() => server.close());
  const r = await request({ socket }, 'GET', '/fleet/v1/units');
  t.equal(r.status, 500);
  t.same(r.json, { error: { code: 500, message: 'internal error: cannot read properties of undefined (reading "x")' } });
  t.equal((await request({ socket }, 'GET', '/fleet/v1/state')).status, 200, 'still serving');
});
