/**
 * fleetd on two real lab machines (systemd as PID 1, etcd on the bridge, Docker engine): what the agent does
 * with units written through lib/registry, [Install] units, a Docker container unit, and fleetd's own command
 * line, config errors, duplicate machine ids and SIGHUP.
 */
import t from 'tap';
import { Keyspace } from '../../lib/registry/index.js';
import {
  apiGet, fileExists, fleetdJournalProblems, pinTo, publishedState, serviceText, show, sleep, startFleetLab, submit, UNITS_DIR, waitFor, waitRunning,
} from './lab-helpers.js';

const FLEETD = ['node', '/opt/fleet/dist/fleetd/main.js'];
/** a second fleetd started by hand next to the machine's own: its own runtime dir, no API listeners */
const BESIDE = (tag: string): string =>
  `--units-directory=/run/fleet-${tag}/units --api-socket= --api-listen= --disable-engine=true`;
const STACK_LINE = /^\s+at /m;

t.test('fleetd agent on real machines', async (t) => {
  const { lab, registry, client, ids } = await startFleetLab(t, { machines: 2, agentTtl: '5s', docker: true, prefix: 'fa' });
  const [m1] = await lab.machines();

  await t.test('a pinned unit is written, linked, started and reported; new content restarts it', async (t) => {
    const name = 'hello.service';
    const v1 = await submit(registry, name, serviceText('hello v1', ['ExecStart=/bin/sleep 1001'], pinTo(ids.m1!)));
    const pid1 = await waitRunning(lab, 'm1', name);
    t.ok(await fileExists(lab, 'm1', `${UNITS_DIR}/${name}`), 'unit file written into units_directory');
    const link = await lab.exec('m1', ['readlink', `/run/systemd/system/${name}`]);
    t.equal(link.stdout.trim(), `${UNITS_DIR}/${name}`, 'linked into systemd at runtime');
    t.equal((await lab.exec('m1', ['systemctl', 'is-enabled', name])).stdout.trim(), 'linked-runtime');
    const st = await waitFor('hello state in etcd', async () => {
      const s = await publishedState(registry, name, ids.m1!);
      return s?.activeState === 'active' ? s : undefined;
    });
    t.match(st, { hash: v1.hash, loadState: 'loaded', activeState: 'active', subState: 'running', agentState: 'launched' });
    t.equal((await registry.getUnit(name))?.currentState, 'launched', 'current state derived from the published state');
    t.equal((await show(lab, 'm2', name)).LoadState, 'not-found', 'not on the other machine');

    const v2 = await submit(registry, name, serviceText('hello v2', ['ExecStart=/bin/sleep 1002'], pinTo(ids.m1!)));
    t.not(v2.hash, v1.hash);
    const pid2 = await waitFor('hello restarted with new content', async () => {
      const s = await show(lab, 'm1', name);
      const pid = Number(s.MainPID);
      return s.ActiveState === 'active' && pid > 0 && pid !== pid1 ? pid : undefined;
    });
    const cat = await lab.exec('m1', ['systemctl', 'cat', name]);
    t.match(cat.stdout, 'ExecStart=/bin/sleep 1002', 'systemd has the new ExecStart');
    t.notMatch(cat.stdout, 'sleep 1001');
    const cmdline = await lab.exec('m1', ['cat', `/proc/${pid2}/cmdline`]);
    t.equal(cmdline.stdout.split('\0').join(' ').trim(), '/bin/sleep 1002', 'the new process runs the new command');
    await waitFor('new hash in etcd', async () => ((await publishedState(registry, name, ids.m1!))?.hash === v2.hash ? true : undefined));
  });

  await t.test('desired states: loaded stops, inactive and destroy remove the unit', async (t) => {
    const name = 'hello.service';
    await registry.setDesiredState(name, 'loaded');
    await waitFor('hello stopped but still loaded', async () => {
      const s = await show(lab, 'm1', name);
      return s.LoadState === 'loaded' && s.ActiveState === 'inactive' ? true : undefined;
    });
    t.ok(await fileExists(lab, 'm1', `${UNITS_DIR}/${name}`), 'a loaded unit keeps its file');
    await waitFor('agentState loaded', async () => ((await publishedState(registry, name, ids.m1!))?.agentState === 'loaded' ? true : undefined));

    await registry.setDesiredState(name, 'launched');
    await waitRunning(lab, 'm1', name);

    await registry.setDesiredState(name, 'inactive');
    await waitFor('hello unloaded', async () => ((await show(lab, 'm1', name)).LoadState === 'not-found' ? true : undefined));
    t.notOk(await fileExists(lab, 'm1', `${UNITS_DIR}/${name}`), 'file removed');
    t.notOk(await fileExists(lab, 'm1', `/run/systemd/system/${name}`), 'link removed');
    await waitFor('state gone from etcd', async () => ((await publishedState(registry, name, ids.m1!)) === undefined ? true : undefined));

    await registry.setDesiredState(name, 'launched');
    const pid = await waitRunning(lab, 'm1', name);
    t.ok(pid > 0, 'launched again');
    await registry.destroyUnit(name);
    await waitFor('hello gone after destroy', async () => ((await show(lab, 'm1', name)).LoadState === 'not-found' ? true : undefined));
    t.notOk(await fileExists(lab, 'm1', `${UNITS_DIR}/${name}`), 'file removed');
    t.notOk((await lab.exec('m1', ['kill', '-0', String(pid)])).code === 0, 'its process is gone');
    await waitFor('state gone from etcd', async () => ((await publishedState(registry, name, ids.m1!)) === undefined ? true : undefined));
  });

  await t.test('a unit without requirements runs where the engine placed it, and only there', async (t) => {
    const name = 'roam.service';
    const published: string[] = [];
    const watcher = await client.watch().prefix(new Keyspace(registry.prefix).unitStatesDir(name)).create();
    watcher.on('put', (kv) => {
      const st = JSON.parse(kv.value.toString()) as { agentState?: string; activeState?: string; subState?: string };
      published.push(`${st.agentState} ${st.activeState}/${st.subState}`);
    });
    t.teardown(() => watcher.cancel());
    await submit(registry, name, serviceText('roams', ['ExecStart=/bin/sleep 1005']));
    const target = await waitFor('roam scheduled', async () => (await registry.getUnit(name))?.machineId);
    const here = Object.entries(ids).find(([, id]) => id === target)![0];
    const other = here === 'm1' ? 'm2' : 'm1';
    await waitRunning(lab, here, name);
    await waitFor('roam state in etcd', async () => ((await publishedState(registry, name, target))?.subState === 'running' ? true : undefined));
    t.notOk(published.some((p) => p.startsWith('loaded ')), `no loaded/inactive state on the way to launched (published: ${published.join(', ')})`);
    t.ok(published.length <= 2, `at most 2 state writes for a launch, ${published.length} seen`);
    t.equal((await show(lab, other, name)).LoadState, 'not-found', `not on ${other}`);
    await registry.destroyUnit(name);
    await waitFor('roam gone', async () => ((await show(lab, here, name)).LoadState === 'not-found' ? true : undefined));
  });

  await t.test('an [Install] unit is enabled: its target starts it; a fleetd restart does not stop it', async (t) => {
    const name = 'wanted.service';
    const w = await lab.sh('m2', "printf '[Unit]\\nDescription=fleet test target\\n' > /run/systemd/system/fleet-test.target && systemctl daemon-reload");
    t.equal(w.code, 0, w.stderr);
    await submit(
      registry,
      name,
      serviceText('wanted by fleet-test.target', ['ExecStart=/bin/sleep 1003'], `\n[Install]\nWantedBy=fleet-test.target\n${pinTo(ids.m2!)}`),
      'loaded',
    );
    await waitFor('wanted loaded on m2', async () => ((await publishedState(registry, name, ids.m2!))?.agentState === 'loaded' ? true : undefined));
    t.match(await show(lab, 'm2', name), { LoadState: 'loaded', ActiveState: 'inactive' }, 'loaded, not started by fleet');
    t.equal((await lab.exec('m2', ['systemctl', 'is-enabled', name])).stdout.trim(), 'enabled-runtime');
    t.ok(await fileExists(lab, 'm2', `/run/systemd/system/fleet-test.target.wants/${name}`), 'wanted by the target');

    const start = await lab.exec('m2', ['systemctl', 'start', 'fleet-test.target']);
    t.equal(start.code, 0, start.stderr);
    const pid = await waitRunning(lab, 'm2', name);
    await waitFor('active state in etcd', async () => ((await publishedState(registry, name, ids.m2!))?.activeState === 'active' ? true : undefined));

    const fleetPid = (await show(lab, 'm2', 'fleet.service')).MainPID;
    const r = await lab.exec('m2', ['systemctl', 'restart', 'fleet.service']);
    t.equal(r.code, 0, r.stderr);
    t.not((await show(lab, 'm2', 'fleet.service')).MainPID, fleetPid, 'fleetd restarted');
    await sleep(4000);
    t.match(await show(lab, 'm2', name), { ActiveState: 'active', MainPID: String(pid) }, 'still running with the same PID');
    t.equal((await publishedState(registry, name, ids.m2!))?.agentState, 'loaded', 'desired state loaded is kept, not enforced by stopping');
    await registry.destroyUnit(name);
    await waitFor('wanted gone', async () => ((await show(lab, 'm2', name)).LoadState === 'not-found' ? true : undefined));
    t.notOk(await fileExists(lab, 'm2', `/run/systemd/system/fleet-test.target.wants/${name}`), 'disabled on unload');
  });

  await t.test('a Docker container unit runs and is reported running', async (t) => {
    const name = 'box.service';
    const container = 'fleet-test-box';
    await submit(registry, name, serviceText('busybox in docker', [
      `ExecStartPre=-/usr/bin/docker rm -f ${container}`,
      `ExecStart=/usr/bin/docker run --rm --network none --name ${container} fleet-lab/busybox sleep 1004`,
      `ExecStop=/usr/bin/docker stop -t 1 ${container}`,
    ], pinTo(ids.m1!)));
    await waitRunning(lab, 'm1', name, 60_000);
    const st = await waitFor('box running in etcd', async () => {
      const s = await publishedState(registry, name, ids.m1!);
      return s?.activeState === 'active' && s.subState === 'running' ? s : undefined;
    }, 30_000);
    t.match(st, { loadState: 'loaded', agentState: 'launched' });
    await waitFor('container running', async () => {
      const r = await lab.exec('m1', ['docker', 'inspect', '-f', '{{.State.Running}} {{.Path}} {{join .Args " "}}', container]);
      return r.stdout.trim() === 'true sleep 1004' ? true : undefined;
    });
    await registry.destroyUnit(name);
    await waitFor('box gone', async () => ((await show(lab, 'm1', name)).LoadState === 'not-found' ? true : undefined), 30_000);
    await waitFor('container removed', async () => {
      const r = await lab.exec('m1', ['docker', 'ps', '-a', '-q', '--filter', `name=^${container}$`]);
      return r.code === 0 && r.stdout.trim() === '' ? true : undefined;
    });
  });

  await t.test('bad configuration is one clear line and a non-zero exit', async (t) => {
    const cases: { argv: string[]; code: number; line: RegExp }[] = [
      { argv: ['--agent-ttl=abc'], code: 1, line: /^fleetd: flag --agent-ttl: agent_ttl: "abc" is not a duration/ },
      { argv: ['--config=/tmp/bad.conf'], code: 1, line: /^fleetd: \/tmp\/bad\.conf:2: etcd_request_timeout: "soon" is not a number/ },
      { argv: ['--config=/tmp/missing.conf'], code: 1, line: /^fleetd: config file \/tmp\/missing\.conf does not exist/ },
      { argv: ['--no-such-option=1'], code: 2, line: /^fleetd: unknown flag --no-such-option/ },
      { argv: ['start'], code: 2, line: /^fleetd: takes no arguments \(got "start"\)\. Did you mean to invoke fleetctl instead\?/ },
    ];
    t.equal((await lab.sh('m2', "printf '# ok\\netcd_request_timeout = soon\\n' > /tmp/bad.conf")).code, 0);
    for (const c of cases) {
      const r = await lab.exec('m2', [...FLEETD, ...c.argv]);
      t.equal(r.code, c.code, `${c.argv.join(' ')}: exit code`);
      t.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${c.argv.join(' ')}: one line`);
      t.match(r.stderr, c.line);
      t.notMatch(r.stderr, STACK_LINE, 'no stack trace');
    }
  });

  await t.test('etcd unreachable at start: warnings and retries, no stack trace; SIGTERM exits 0', async (t) => {
    const script = [
      'echo 0123456789abcdef0123456789abcdef > /tmp/unreachable-id',
      `${FLEETD.join(' ')} --machine-id-file=/tmp/unreachable-id ${BESIDE('unreachable')} ` +
        '--etcd-servers=http://127.0.0.1:1 2>/tmp/unreachable.err &',
      'pid=$!',
      'for i in $(seq 1 300); do [ "$(grep -c retrying /tmp/unreachable.err)" -ge 2 ] && break; sleep 0.1; done',
      'kill -TERM $pid; wait $pid; echo "rc=$?"',
      'cat /tmp/unreachable.err >&2',
    ].join('\n');
    const r = await lab.sh('m2', script);
    t.equal(r.stdout.trim(), 'rc=0', 'SIGTERM while waiting for etcd exits 0');
    t.match(r.stderr, /cannot register this machine in etcd yet; retrying/);
    t.match(r.stderr, /check that etcd is reachable at etcd_servers/);
    t.notMatch(r.stderr, STACK_LINE, 'no stack trace');
    for (const line of r.stderr.split('\n').filter(Boolean)) t.doesNotThrow(() => JSON.parse(line), `structured: ${line.slice(0, 80)}`);
  });

  await t.test('a second fleetd with the same machine id refuses with a clear message', async (t) => {
    const r = await lab.sh(
      'm2',
      `echo ${ids.m1} > /tmp/m1-machine-id && FLEET_MACHINE_ID_FILE=/tmp/m1-machine-id timeout 60 ${FLEETD.join(' ')} ` +
        `${BESIDE('dup')} --etcd-servers=${lab.etcdUrl}`,
    );
    t.equal(r.code, 1, 'non-zero exit');
    const lines = r.stderr.split('\n').filter(Boolean);
    t.equal(lines.length, 1, r.stderr);
    t.match(lines[0], `fleetd: machine id ${ids.m1} (from /tmp/m1-machine-id) is already registered by another live fleetd at ${m1!.ip}`);
    t.match(lines[0], 'every machine needs its own machine id');
    const rec = await registry.getMachine(ids.m1!);
    t.equal(rec?.publicIP, m1!.ip, 'the first machine keeps its record');
    t.equal((await show(lab, 'm1', 'fleet.service')).ActiveState, 'active', 'the first fleetd runs on');
  });

  await t.test('SIGHUP (systemctl reload) republishes metadata from the config', async (t) => {
    const before = (await show(lab, 'm1', 'fleet.service')).MainPID;
    // the lab's cloud-config sets no FLEET_METADATA for m1, so fleet.conf decides
    const w = await lab.sh('m1', `echo 'metadata="role=db, az=2"' >> /etc/fleet/fleet.conf && systemctl reload fleet.service`);
    t.equal(w.code, 0, w.stderr);
    const rec = await waitFor('new metadata in etcd', async () => {
      const m = await registry.getMachine(ids.m1!);
      return m?.metadata.role === 'db' ? m : undefined;
    }, 10_000);
    t.same(rec.metadata, { role: 'db', az: '2' });
    t.equal((await show(lab, 'm1', 'fleet.service')).MainPID, before, 'same fleetd process');
  });

  await t.test('/metrics: agent counters on every machine, engine counters on the leader', async (t) => {
    const value = (text: string, name: string): number => {
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const leaderId = await waitFor('an engine leader', async () => (await client.get(`${registry.prefix}engine/leader`).json() as { machineId?: string } | null)?.machineId);
    for (const name of ['m1', 'm2']) {
      const r = await apiGet(lab, name, '/metrics');
      t.equal(r.status, 200, `${name}: /metrics answers`);
      t.ok(value(r.body, 'fleet_agent_reconcile_count_total') > 0, `${name}: agent reconciliations counted`);
      if (name === 'm1') t.ok(value(r.body, 'fleet_agent_task_count_total') > 0, 'm1: agent tasks counted (it ran units above)');
      const leads = ids[name] === leaderId;
      t.equal(value(r.body, 'fleet_engine_leader'), leads ? 1 : 0, `${name}: fleet_engine_leader`);
      if (leads) {
        t.ok(value(r.body, 'fleet_engine_reconcile_count_total') > 0, `${name} (leader): scheduling passes counted`);
        t.ok(value(r.body, 'fleet_engine_task_count_total') > 0, `${name} (leader): schedule changes counted`);
        t.ok(value(r.body, 'fleet_engine_leader_start_time') * 1000 <= Date.now(), `${name} (leader): term start time`);
        t.match(r.body, /^fleet_engine_reconcile_duration_second_count [1-9]\d*$/m, `${name} (leader): pass durations observed`);
      } else {
        t.equal(value(r.body, 'fleet_engine_leader_start_time'), 0, `${name}: not leading, no term start time`);
      }
    }
  });

  await t.test('fleetd logged no stack trace and nothing unstructured', async (t) => {
    for (const m of ['m1', 'm2']) t.same(await fleetdJournalProblems(lab, m), [], m);
  });
});
