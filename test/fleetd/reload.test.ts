/**
 * fleetd options at run time, on an in-process FleetServer (MemoryUnitManager, real etcd): SIGHUP applies
 * verbosity, metadata and public_ip and names every other changed option as waiting for a restart; an unconfigured
 * public IP is detected again periodically (fleet: every minute) and published; disable_watches also holds for the
 * agent, which then acts on registry changes only at its periodic reconcile (docs/fleet-compat.md#fleetd-configuration).
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { TestRegistry } from '../harness/registry.js';
import { sleep, waitFor } from '../harness/wait.js';
import { defaultConfig, type FleetConfig } from '../../fleetd/config.js';
import { FleetServer, RELOADED_ON_SIGHUP, changedOptions, type ServerHooks } from '../../fleetd/server.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import { scheduleUnit, submitUnit } from '../api/fixture.js';

const etcd = await startEtcd(t);
let n = 0;

async function fleetd(t: Test, config: Partial<FleetConfig>, hooks: ServerHooks = {}): Promise<{ server: FleetServer; reg: TestRegistry; manager: MemoryUnitManager; id: string; config: FleetConfig }> {
  const prefix = `/reload-${process.pid}-${++n}/`;
  const id = `reload${n}`.padEnd(32, '0');
  const manager = new MemoryUnitManager();
  const full: FleetConfig = {
    ...defaultConfig(),
    etcdKeyPrefix: prefix,
    disableEngine: true,
    apiSocket: '',
    apiListen: '',
    unitsDirectory: '/nonexistent/reload/units/',
    machineIdFile: '/nonexistent/reload/machine-id',
    ...config,
  };
  const server = new FleetServer(full, { etcd: etcd.newClient(), unitManager: async () => manager, machineId: id, instance: id, ...hooks });
  t.teardown(() => server.stop({ keepUnits: true }));
  await server.start();
  const reg = new TestRegistry(etcd.newClient(), prefix);
  t.teardown(() => reg.close());
  return { server, reg, manager, id, config: full };
}

t.test('SIGHUP applies verbosity, metadata and public_ip; every other changed option is named as needing a restart', async (t) => {
  const f = await fleetd(t, { publicIp: '198.18.1.1', metadata: { a: '1' } });
  const outcome = await f.server.reload({ ...f.config, publicIp: '198.18.1.2', metadata: { a: '2' }, verbosity: 1, agentTtl: 99, tokenLimit: 50 });
  t.same(outcome, { applied: [...RELOADED_ON_SIGHUP], needRestart: ['agent_ttl', 'token_limit'] });
  const [m] = await f.reg.listMachines();
  t.match(m, { id: f.id, publicIP: '198.18.1.2', metadata: { a: '2' } }, 'the new machine state is published');
  t.same((await f.server.reload({ ...f.config, publicIp: '198.18.1.2', metadata: { a: '2' } })).needRestart, [], 'nothing else changed');
  t.same(changedOptions(f.config, { ...f.config, etcdServers: ['http://x:1'], disableWatches: true }), ['etcd_servers', 'disable_watches']);
});

t.test('an unconfigured public IP is detected again periodically and the change published', async (t) => {
  let ip = '198.18.2.1';
  const f = await fleetd(t, {}, { detectPublicIp: () => ip, publicIpRefreshMs: 50 });
  t.equal((await f.reg.listMachines())[0]?.publicIP, '198.18.2.1');
  ip = '198.18.2.2';
  await waitFor('the new public IP published', async () => (await f.reg.listMachines())[0]?.publicIP === '198.18.2.2');
  t.pass('published');
});

t.test('a configured public_ip is never replaced by detection', async (t) => {
  const f = await fleetd(t, { publicIp: '198.18.3.1' }, { detectPublicIp: () => '198.18.3.9', publicIpRefreshMs: 20 });
  await sleep(300);
  t.equal((await f.reg.listMachines())[0]?.publicIP, '198.18.3.1');
});

t.test('disable_watches: the agent acts on a newly scheduled unit only at its periodic reconcile', async (t) => {
  const place = async (f: Awaited<ReturnType<typeof fleetd>>, name: string): Promise<void> => {
    await submitUnit(f.reg, name, '[Service]\nExecStart=/bin/true\n', 'loaded');
    await scheduleUnit(f.reg, name, f.id);
  };
  const loaded = (m: MemoryUnitManager, name: string) => async (): Promise<boolean> => (await m.inventory()).has(name);

  const watching = await fleetd(t, {}, { agentPollIntervalMs: 3_600_000 });
  await place(watching, 'w.service');
  await waitFor('with watches the agent loads it at once', loaded(watching.manager, 'w.service'));

  const polling = await fleetd(t, { disableWatches: true }, { agentPollIntervalMs: 3_600_000 });
  const passes = polling.server.agent?.stats.reconciles ?? 0;
  await place(polling, 'p.service');
  await sleep(1_000);
  t.notOk(await loaded(polling.manager, 'p.service')(), 'the registry change woke no reconcile');
  t.equal(polling.server.agent?.stats.reconciles, passes, 'no pass ran');

  const periodic = await fleetd(t, { disableWatches: true }, { agentPollIntervalMs: 200 });
  await place(periodic, 'q.service');
  await waitFor('the periodic reconcile loads it', loaded(periodic.manager, 'q.service'));
  t.pass('loaded by the periodic pass');
});
