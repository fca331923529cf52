import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, parseDuration, parseMetadata, ConfigError, defaultConfig } from '../../fleetd/config.js';

const dir = mkdtempSync(join(tmpdir(), 'fleet-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

t.test('defaults are fleet v1.0 defaults', async (t) => {
  const { config } = loadConfig({ configFile: file('empty.conf', ''), env: {} });
  t.same(config.etcdServers, ['http://127.0.0.1:2379', 'http://127.0.0.1:4001']);
  t.equal(config.etcdKeyPrefix, '/_coreos.com/fleet/');
  t.equal(config.agentTtl, 30);
  t.equal(config.engineReconcileInterval, 2);
  t.equal(config.etcdRequestTimeout, 1);
  t.equal(config.tokenLimit, 100);
  t.equal(config.unitsDirectory, '/run/fleet/units/');
  t.equal(config.shutdownUnits, 'stop');
  t.ok(config.engineLeaseTtl < 10, 'failover bound well under fleet\'s 10 s');
});

t.test('file, then environment, then flags', async (t) => {
  const f = file('a.conf', [
    '# comment',
    'etcd_servers = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]',
    'metadata="region=us-west, az = 1 ,bogus"',
    'agent_ttl=10s',
    'verbosity=1',
    'disable_engine=true',
  ].join('\n'));
  const { config, warnings } = loadConfig({
    configFile: f,
    env: { FLEET_AGENT_TTL: '1m30s', FLEET_PUBLIC_IP: '198.18.0.11', UNRELATED: 'x' },
    flags: { 'public-ip': '198.18.0.12' },
  });
  t.same(config.etcdServers, ['http://10.0.0.1:2379', 'http://10.0.0.2:2379']);
  t.same(config.metadata, { region: 'us-west', az: '1' });
  t.equal(config.agentTtl, 90);
  t.equal(config.publicIp, '198.18.0.12');
  t.equal(config.verbosity, 1);
  t.equal(config.disableEngine, true);
  t.match(warnings.join('\n'), /a\.conf:3: metadata: "bogus" has no "="/);
});

t.test('bad values are clear errors naming where', async (t) => {
  t.throws(() => loadConfig({ configFile: file('b.conf', 'agent_ttl=abc\n'), env: {} }), {
    name: 'ConfigError',
    message: /b\.conf:1: agent_ttl: "abc" is not a duration/,
  });
  t.throws(() => loadConfig({ configFile: file('c.conf', ''), env: { FLEET_TOKEN_LIMIT: 'ten' } }), {
    message: /environment FLEET_TOKEN_LIMIT: token_limit: "ten" is not an integer/,
  });
  t.throws(() => loadConfig({ configFile: file('d.conf', 'etcd_servers=localhost:2379'), env: {} }), {
    message: /etcd_servers: "localhost:2379"/,
  });
  t.throws(() => loadConfig({ configFile: file('e.conf', 'just words'), env: {} }), {
    message: /e\.conf:1: expected "option = value"/,
  });
  t.throws(() => loadConfig({ configFile: join(dir, 'missing.conf'), env: {} }), ConfigError);
  t.throws(() => loadConfig({ configFile: file('f.conf', ''), env: {}, flags: { shutdown_units: 'maybe' } }), {
    message: /shutdown_units: "maybe" is not one of stop\|keep/,
  });
});

t.test('values that parse but are out of range name where they were set', async (t) => {
  t.throws(() => loadConfig({ configFile: file('g.conf', '# fleet\n\nagent_ttl = 0s\n'), env: {} }), {
    name: 'ConfigError',
    message: /^[^ ]*g\.conf:3: agent_ttl must be greater than 0, got 0$/,
  });
  t.throws(() => loadConfig({ configFile: file('h.conf', 'etcd_servers=http://127.0.0.1:2379\n'), env: { FLEET_ETCD_SERVERS: 'ftp://x:1' } }), {
    message: /^environment FLEET_ETCD_SERVERS: etcd_servers: "ftp:\/\/x:1" must use http:\/\/ or https:\/\//,
  });
  t.throws(() => loadConfig({ configFile: file('i.conf', ''), env: {}, flags: { 'machine-lost-grace': '-1s' } }), {
    message: /flag --machine-lost-grace: /,
  });
  t.throws(() => loadConfig({ configFile: file('j.conf', 'etcd_certfile=/x.pem\n'), env: {} }), {
    message: /j\.conf:1: etcd_certfile and etcd_keyfile must be given together/,
  });
});

t.test('public_ip must be an IP address', async (t) => {
  for (const bad of ['1.2.3', ':::::', 'fe80::1::2', '256.1.1.1', 'host.example']) {
    t.throws(() => loadConfig({ configFile: file('k.conf', `public_ip=${bad}\n`), env: {} }), { message: /k\.conf:1: public_ip: ".*" is not an IP address/ }, bad);
  }
  for (const good of ['198.18.0.11', '2001:db8::1']) {
    t.equal(loadConfig({ configFile: file('l.conf', `public_ip=${good}\n`), env: {} }).config.publicIp, good);
  }
});

t.test('unknown and deprecated options warn', async (t) => {
  const { warnings } = loadConfig({ configFile: file('g.conf', 'verify_units=true\nfrobnicate=1\n'), env: {} });
  t.match(warnings.join('\n'), /verify_units is deprecated/);
  t.match(warnings.join('\n'), /unknown option "frobnicate"/);
});

t.test('durations and metadata', async (t) => {
  t.equal(parseDuration('30s'), 30);
  t.equal(parseDuration('1m30s'), 90);
  t.equal(parseDuration('500ms'), 0.5);
  t.equal(parseDuration('1.5h'), 5400);
  t.equal(parseDuration('30'), undefined);
  t.equal(parseDuration(''), undefined);
  t.same(parseMetadata('a=1,b=2,a=3').metadata, { a: '3', b: '2' });
  t.equal(defaultConfig().machineLostGrace, 0);
});

t.test('durations take both micro signs, as Go does', async (t) => {
  t.equal(parseDuration('1500000µs'), 1.5, 'U+00B5 MICRO SIGN');
  t.equal(parseDuration('1500000μs'), 1.5, 'U+03BC GREEK SMALL LETTER MU');
  t.equal(loadConfig({ configFile: file('m.conf', 'agent_ttl = 2000000μs\n'), env: {} }).config.agentTtl, 2);
});

t.test('systemd_user = true is refused with the reason; false is accepted', async (t) => {
  t.throws(() => loadConfig({ configFile: file('n.conf', 'systemd_user = true\n'), env: {} }), {
    name: 'ConfigError',
    message: /^[^ ]*n\.conf:1: systemd_user: true is not supported: fleetd drives the system instance of systemd only/,
  });
  t.throws(() => loadConfig({ configFile: file('o.conf', ''), env: { FLEET_SYSTEMD_USER: '1' } }), {
    message: /^environment FLEET_SYSTEMD_USER: systemd_user: true is not supported/,
  });
  t.equal(loadConfig({ configFile: file('p.conf', 'systemd_user = false\n'), env: {} }).config.systemdUser, false);
});

t.test('a text value in double quotes means the text inside, from any source', async (t) => {
  const { config } = loadConfig({ configFile: file('q.conf', ''), env: { FLEET_ETCD_CAFILE: '"/etc/ssl/ca.pem"', FLEET_ETCD_KEY_PREFIX: '"/p"' } });
  t.equal(config.etcdCafile, '/etc/ssl/ca.pem');
  t.equal(config.etcdKeyPrefix, '/p/');
});
