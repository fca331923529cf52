/**
 * fleetd with bad flags, bad fleet.conf files (test/corpus/data/fleetd) and bad FLEET_* variables: one line on
 * stderr, a non-zero exit, no stack trace, and no connection to the etcd it was given (it fails while reading
 * its configuration, before contacting anything). Most cases call fleetd's readStartup (what main.ts does first)
 * in this process; the first file, the first bad flag and one environment case run the fleetd binary.
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readStartup } from '../../fleetd/args.js';
import { runInProcess } from '../harness/in-process.js';
import type { Run } from '../harness/run.js';
import { DIST, dataPath, hasStackTrace, lines, readJson, runNode } from './helpers.js';

const FLEETD = path.join(DIST, 'fleetd/main.js');

interface Case {
  match: string;
  code: number;
  flags?: string[];
  env?: Record<string, string>;
  /** The file sets etcd_servers itself (FLEET_ETCD_SERVERS would override it). */
  ownEtcdServers?: boolean;
  /** More flag sets to run against the same file: [flags, exit code, pattern]. */
  alsoFlags?: [string[], number, string][];
}

const manifest = readJson<Record<string, Case>>('fleetd', 'manifest.json');

// A TCP listener standing in for etcd: any connection means fleetd went past its configuration.
let connections = 0;
const fakeEtcd = net.createServer((s) => {
  connections++;
  s.destroy();
});
await new Promise<void>((r) => fakeEtcd.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => fakeEtcd.close(() => r())));
const etcdUrl = `http://127.0.0.1:${(fakeEtcd.address() as net.AddressInfo).port}`;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'corpus-fleetd-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const baseEnv = {
  FLEET_API_SOCKET: path.join(tmp, 'fleet.sock'),
  FLEET_UNITS_DIRECTORY: path.join(tmp, 'units'),
  FLEET_MACHINE_ID_FILE: path.join(tmp, 'machine-id'),
};

/** fleetd's start in this process: what main.ts writes and the code it exits with, had it been refused. */
function inProcess(args: string[], env: Record<string, string>): Promise<Run> {
  return runInProcess((out) => {
    const start = readStartup(args, { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env });
    if (!('exit' in start)) throw new Error('fleetd accepted its configuration');
    out.stdout(start.stdout);
    out.stderr(start.stderr);
    return start.exit;
  });
}

const binary = (args: string[], env: Record<string, string>): Promise<Run> => runNode(FLEETD, args, { env, timeoutMs: 20_000 });

async function refused(t: Test, what: string, args: string[], env: Record<string, string>, code: number, match: RegExp, run = inProcess): Promise<void> {
  const before = connections;
  const r = await run(args, env);
  t.equal(r.code, code, `${what}: exit ${code}`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
  t.equal(lines(r.stderr).length, 1, `${what}: one line (${JSON.stringify(r.stderr.slice(0, 300))})`);
  t.match(r.stderr, /^fleetd: \S/, `${what}: fleetd's prefix`);
  t.match(r.stderr, match, `${what}: says what is wrong`);
  t.ok(r.stderr.length < 600, `${what}: a readable line (${r.stderr.length} characters)`);
  t.notOk(hasStackTrace(r.stderr), `${what}: no stack trace`);
  t.ok(r.ms < 15_000, `${what}: exits at once (${r.ms} ms)`);
  t.equal(connections, before, `${what}: did not contact etcd`);
}

t.test('bad fleet.conf files and flags', async (t) => {
  const files = Object.keys(manifest);
  t.ok(files.length >= 30, `${files.length} config files`);
  const firstBadFlag = files.find((f) => manifest[f]!.code === 2);
  for (const [i, file] of files.entries()) {
    const c = manifest[file]!;
    const env = { ...baseEnv, ...(c.ownEtcdServers ? {} : { FLEET_ETCD_SERVERS: etcdUrl }), ...c.env };
    const conf = dataPath('fleetd', file);
    await refused(t, file, ['--config', conf, ...(c.flags ?? [])], env, c.code, new RegExp(c.match), i === 0 || file === firstBadFlag ? binary : inProcess);
    for (const [flags, code, match] of c.alsoFlags ?? []) {
      await refused(t, `${file} ${flags.join(' ')}`, ['--config', conf, ...flags], env, code, new RegExp(match));
    }
  }
});

t.test('unreadable and giant config files, bad environment', async (t) => {
  const env = { ...baseEnv, FLEET_ETCD_SERVERS: etcdUrl };
  await refused(t, 'missing file', ['--config', path.join(tmp, 'nope.conf')], env, 1, /config file .*nope\.conf does not exist/);
  mkdirSync(path.join(tmp, 'dir.conf'));
  await refused(t, 'a directory', ['--config', path.join(tmp, 'dir.conf')], env, 1, /cannot read config file .*dir\.conf: EISDIR/);
  const giant = path.join(tmp, 'giant.conf');
  writeFileSync(giant, `${'# padding padding padding padding\n'.repeat(150_000)}token_limit = many\n`);
  await refused(t, '5 MB of comments, then a bad line', ['--config', giant], env, 1, /giant\.conf:150001: token_limit: "many" is not an integer/);
  const longLine = path.join(tmp, 'long.conf');
  writeFileSync(longLine, `public_ip = ${'1'.repeat(2_000_000)}x\n`);
  await refused(t, '2 MB value', ['--config', longLine], env, 1, /public_ip: "1{77}\.\.\." is not an IP address/);
  const ok = dataPath('fleetd', 'empty-ok.conf');
  await refused(t, 'FLEET_TOKEN_LIMIT=ten', ['--config', ok], { ...env, FLEET_TOKEN_LIMIT: 'ten' }, 1, /environment FLEET_TOKEN_LIMIT: token_limit: "ten" is not an integer/, binary);
  await refused(t, 'FLEET_AGENT_TTL=forever', ['--config', ok], { ...env, FLEET_AGENT_TTL: 'forever' }, 1, /environment FLEET_AGENT_TTL: agent_ttl: "forever" is not a duration/);
  await refused(t, 'FLEET_ETCD_SERVERS=gopher://x', ['--config', ok], { ...env, FLEET_ETCD_SERVERS: 'gopher://x' }, 1, /etcd_servers: "gopher:\/\/x" must use http:\/\/ or https:\/\//);
});
