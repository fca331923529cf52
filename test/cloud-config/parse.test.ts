import t from 'tap';
import { gzipSync } from 'node:zlib';
import { classify, parseUserData, type ParseResult } from '../../cloud-config/parse.js';
import { formatDiagnostic, type Diagnostic } from '../../cloud-config/diagnostics.js';
import type { CloudConfig, Substitutions } from '../../cloud-config/types.js';

const doc = (body: string): string => `#cloud-config\n${body}`;

function parse(body: string, substitutions: Substitutions = {}): ParseResult {
  return parseUserData(doc(body), { substitutions });
}

const errors = (r: ParseResult): string[] =>
  r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
const warnings = (r: ParseResult): string[] =>
  r.diagnostics.filter((d) => d.severity === 'warning').map(formatDiagnostic);

/** The config of a document that must be valid (throws, failing the test, with the errors otherwise). */
function config(r: ParseResult): CloudConfig {
  if (r.kind !== 'cloud-config' || !r.config) throw new Error(`expected a valid cloud-config, got: ${errors(r).join('; ')}`);
  return r.config;
}

t.test('classifies documents by their first line', async (t) => {
  t.equal(classify('#cloud-config\nhostname: a\n'), 'cloud-config');
  t.equal(classify('#cloud-config   \r\nhostname: a\n'), 'cloud-config', 'trailing whitespace is allowed');
  t.equal(classify('#!/bin/sh\necho hi\n'), 'script');
  t.match(classify(''), /empty/);
  t.match(classify('hostname: a\n'), /first line must be exactly "#cloud-config" or start with "#!", found "hostname: a"/);
  t.match(classify('#cloud-config-archive\n'), /nothing may follow "#cloud-config"/);
  t.match(classify('{"ignition": {"version": "2.0.0"}}'), /Ignition/);
});

t.test('unrecognized documents are an error at line 1', async (t) => {
  const r = parseUserData('coreos:\n  units: []\n');
  t.equal(r.kind, 'unrecognized');
  t.equal(r.diagnostics.length, 1);
  t.match(r.diagnostics[0], { severity: 'error', position: { line: 1, column: 1 } });
});

t.test('a full, valid document becomes a typed config', async (t) => {
  const r = parse(`
hostname: node-1
ssh_authorized_keys:
  - ssh-ed25519 AAAA key1
users:
  - name: alice
    passwd: $6$salt$hash
    groups: [sudo, docker]
    ssh-authorized-keys: [ssh-ed25519 BBBB alice]
    no_create_home: true
    shell: /bin/bash
write_files:
  - path: /etc/motd
    content: hello
    permissions: '0600'
    owner: alice:alice
coreos:
  etcd2:
    name: node-1
    heartbeat-interval: 100
    proxy: on
  fleet:
    public-ip: 10.0.0.1
    metadata: region=us-west
    agent-ttl: 30s
    engine_reconcile_interval: 2.5
    disable-engine: true
    token_limit: 50
    units_directory: /run/fleet/units
    disable_watches: yes
  units:
    - name: hello.service
      runtime: true
      enable: true
      content: |
        [Service]
        ExecStart=/bin/true
      command: start
      drop-ins:
        - name: 10-env.conf
          content: |
            [Service]
            Environment=A=1
`);
  const c = config(r);
  t.same(warnings(r), []);
  t.equal(c.hostname, 'node-1');
  t.same(c.sshAuthorizedKeys, ['ssh-ed25519 AAAA key1']);
  t.match(c.users[0], {
    name: 'alice',
    passwd: '$6$salt$hash',
    groups: ['sudo', 'docker'],
    sshAuthorizedKeys: ['ssh-ed25519 BBBB alice'],
    noCreateHome: true,
    shell: '/bin/bash',
    source: 'users[0]',
  });
  t.equal(c.writeFiles[0]!.mode, 0o600);
  t.equal(c.writeFiles[0]!.content.toString(), 'hello');
  t.equal(c.writeFiles[0]!.owner, 'alice:alice');
  t.same(c.coreos.etcd2, { name: 'node-1', heartbeat_interval: 100, proxy: 'on' });
  t.same(c.coreos.fleet, {
    public_ip: '10.0.0.1',
    metadata: 'region=us-west',
    agent_ttl: '30s',
    engine_reconcile_interval: 2.5,
    disable_engine: true,
    token_limit: 50,
    units_directory: '/run/fleet/units',
    disable_watches: true,
  });
  t.match(c.coreos.units[0], {
    name: 'hello.service',
    runtime: true,
    enable: true,
    command: 'start',
    content: '[Service]\nExecStart=/bin/true\n',
    dropIns: [{ name: '10-env.conf', content: '[Service]\nEnvironment=A=1\n', source: 'coreos.units[0].drop_ins[0]' }],
  });
});

t.test('an empty cloud-config is valid and does nothing', async (t) => {
  const c = config(parseUserData('#cloud-config\n'));
  t.same(c, { sshAuthorizedKeys: [], users: [], writeFiles: [], coreos: { units: [] } });
});

t.test('every error is reported with its path, not just the first', async (t) => {
  const r = parse(`
coreos:
  units:
    - name: a.service
      command: start
    - name: b.service
      command: start
    - name: c.service
      command: strat
    - name: nosuffix
    - name: d.service
      drop-ins:
        - content: x
write_files:
  - path: /etc/a
    permissions: "999"
  - path: relative/b
  - content: no path
users:
  - name: Bad User
`);
  t.equal(r.kind, 'cloud-config');
  t.notOk(r.kind === 'cloud-config' && r.config, 'no config when there are errors');
  t.same(errors(r).sort(), [
    'coreos.units[2].command: "strat" is not one of start|stop|restart|reload|try-restart|reload-or-restart|reload-or-try-restart',
    'coreos.units[3].name: "nosuffix" does not end in a unit type (one of .service .socket .target .timer .path .mount .automount .swap .device .slice .scope .network .netdev .link)',
    'coreos.units[4].drop_ins[0].name: missing (required)',
    'users[0].name: "Bad User" is not a valid user name (lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters)',
    'write_files[0].permissions: "999" is not an octal mode',
    'write_files[1].path: "relative/b" is not an absolute path',
    'write_files[2].path: missing (required)',
  ].sort());
});

t.test('errors carry the line and column of the offending value', async (t) => {
  const r = parse(`coreos:
  units:
    - name: a.service
      command: strat
`);
  const d = r.diagnostics.find((x) => x.path === 'coreos.units[0].command') as Diagnostic;
  t.same(d.position, { line: 5, column: 16 });
});

t.test('wrong types fail', async (t) => {
  const r = parse(`
hostname: [a]
ssh_authorized_keys: ssh-rsa AAAA
coreos:
  fleet:
    agent_ttl: 30
    etcd_servers: [http://a:2379]
    disable_engine: maybe
    token_limit: 1.5
    verbosity: "2"
    engine_reconcile_interval: soon
  units:
    - name: a.service
      enable: "true"
      content: {a: b}
    - just a string
write_files: {path: /etc/x}
users:
  -
`);
  t.same(errors(r).sort(), [
    'coreos.fleet.agent_ttl: expected a string, got a number (30); put it in quotes if you mean the text',
    'coreos.fleet.disable_engine: expected a boolean (true or false), got a string ("maybe")',
    'coreos.fleet.engine_reconcile_interval: expected a number, got a string ("soon")',
    'coreos.fleet.etcd_servers: expected a string, got a list',
    'coreos.fleet.token_limit: expected an integer, got a number (1.5)',
    'coreos.fleet.verbosity: expected an integer, got a string ("2")',
    'coreos.units[0].content: expected a string, got a mapping',
    'coreos.units[0].enable: expected a boolean (true or false), got a string ("true")',
    'coreos.units[1]: expected a mapping, got a string ("just a string")',
    'hostname: expected a string, got a list',
    'ssh_authorized_keys: expected a list, got a string ("ssh-rsa AAAA")',
    'users[0]: expected a mapping, got nothing',
    'write_files: expected a list, got a mapping',
  ].sort());
});

t.test('values are checked beyond their type', async (t) => {
  const r = parse(`
hostname: bad_host
coreos:
  fleet:
    agent_ttl: "30"
    token_limit: 0
    units_directory: run/fleet
    etcd_servers: "http://a:2379\\nhttp://b:2379"
  etcd2:
    proxy: maybe
    initial_cluster_state: old
write_files:
  - path: /etc/../x
  - path: /etc/dir/
  - path: /etc/y
    owner: "a:b:c"
    encoding: rot13
coreos_typo: 1
`);
  t.same(errors(r).sort(), [
    'coreos.etcd2.initial_cluster_state: "old" is not one of new|existing',
    'coreos.etcd2.proxy: "maybe" is not one of on|off|readonly',
    'coreos.fleet.agent_ttl: "30" is not a duration (e.g. 30s, 1m30s, 500ms)',
    'coreos.fleet.etcd_servers: must be a single line',
    'coreos.fleet.token_limit: must be greater than 0, got 0',
    'coreos.fleet.units_directory: "run/fleet" is not an absolute path',
    'hostname: "bad_host" is not a valid host name (dot-separated labels of letters, digits and "-", at most 63 characters each)',
    'write_files[0].path: "/etc/../x" must not contain ".." segments',
    'write_files[1].path: "/etc/dir/" names a directory, not a file',
    'write_files[2].encoding: "rot13" is not one of b64|base64|gz|gzip|gz+b64|gz+base64|gzip+b64|gzip+base64',
    'write_files[2].owner: "a:b:c" is not "user", "user:group" or ":group"',
  ].sort());
  t.same(warnings(r), ['coreos_typo: unknown key "coreos_typo" (ignored)']);
});

t.test('unknown and unsupported keys are warnings with their path, not errors', async (t) => {
  const r = parse(`
manage_etc_hosts: localhost
coreos:
  update:
    reboot-strategy: off
  oem:
    id: rackspace
  fleet:
    public-ip: 10.0.0.1
    enable-grpc: true
  units:
    - name: a.service
      command: start
      frobnicate: yes
users:
  - name: bob
    coreos-ssh-import-github: bob
`);
  const c = config(r);
  t.same(warnings(r).sort(), [
    'coreos.fleet.enable_grpc: unknown key "enable-grpc" (ignored)',
    'coreos.units[0].frobnicate: unknown key "frobnicate" (ignored)',
    'coreos.oem: coreos.oem is not supported by this implementation (ignored)',
    'users[0].coreos_ssh_import_github: importing keys from GitHub is not supported by this implementation (ignored)',
  ].sort());
  t.same(c.coreos.fleet, { public_ip: '10.0.0.1' });
});

t.test('deprecated options warn and are still kept', async (t) => {
  const r = parse(`
coreos:
  fleet:
    verify_units: true
  etcd2:
    ca_file: /etc/ssl/ca.pem
`);
  const c = config(r);
  t.same(warnings(r).sort(), [
    'coreos.etcd2.ca_file: deprecated: ca_file is obsoleted by trusted_ca_file and client_cert_auth',
    'coreos.fleet.verify_units: deprecated: fleetd ignores it',
  ]);
  t.same(c.coreos.fleet, { verify_units: true });
});

t.test('dashes and underscores in keys are equivalent', async (t) => {
  const dashed = config(parse('coreos:\n  fleet:\n    public-ip: 10.0.0.1\n    etcd-key-prefix: /p/\n  units:\n    - name: a.service\n      drop-ins:\n        - {name: a.conf, content: x}\n'));
  const underscored = config(parse('coreos:\n  fleet:\n    public_ip: 10.0.0.1\n    etcd_key_prefix: /p/\n  units:\n    - name: a.service\n      drop_ins:\n        - {name: a.conf, content: x}\n'));
  t.same(dashed, underscored);
  t.same(dashed.coreos.fleet, { public_ip: '10.0.0.1', etcd_key_prefix: '/p/' });
  t.equal(dashed.coreos.units[0]!.dropIns.length, 1);
});

t.test('the same key spelled both ways is an error', async (t) => {
  const r = parse('coreos:\n  fleet:\n    public-ip: 10.0.0.1\n    public_ip: 10.0.0.2\n');
  t.same(errors(r), [
    'coreos.fleet.public_ip: given twice (as "public-ip" at line 4 and "public_ip" at line 5); dashes and underscores are equivalent',
  ]);
});

t.test('YAML syntax errors are reported with line and column', async (t) => {
  const r = parse('coreos:\n  units:\n    - name: a.service\n   command: start\n  x: [1,\n');
  const errs = r.diagnostics.filter((d) => d.severity === 'error');
  t.ok(errs.length >= 1);
  t.match(errs[0]!.message, /^YAML syntax error: /);
  t.ok(errs[0]!.position && errs[0]!.position.line >= 4, 'line points into the document (the header is line 1)');
  const dup = parse('hostname: a\nhostname: b\n');
  t.match(errors(dup), [/YAML syntax error: Map keys must be unique/]);
  t.same(dup.diagnostics[0]!.position, { line: 3, column: 1 });
  const escape = parse('hostname: "\\$private_ipv4"\n');
  t.match(errors(escape)[0], /inside double quotes write \\\\\$ for a literal \$/);
});

t.test('substitutions: $private_ipv4 & co. replaced, \\$ escapes, missing values warn', async (t) => {
  const subs = { privateIpv4: '10.0.0.5', publicIpv4: '203.0.113.29', publicIpv6: '2001:db8::1' };
  const r = parse(
    `
coreos:
  fleet:
    public-ip: $public_ipv4
    metadata: ip=$private_ipv4,ip6=$public_ipv6,raw=\\$private_ipv4
  etcd2:
    advertise-client-urls: http://$private_ipv4:2379,http://$private_ipv4:4001
    name: n-$private_ipv6-x
write_files:
  - path: /etc/ip
    content: '$private_ipv4 \\$public_ipv4 $$private_ipv4'
`,
    subs,
  );
  const c = config(r);
  t.same(c.coreos.fleet, { public_ip: '203.0.113.29', metadata: 'ip=10.0.0.5,ip6=2001:db8::1,raw=$private_ipv4' });
  t.equal(c.coreos.etcd2?.advertise_client_urls, 'http://10.0.0.5:2379,http://10.0.0.5:4001');
  t.equal(c.coreos.etcd2?.name, 'n--x');
  t.equal(c.writeFiles[0]!.content.toString(), '10.0.0.5 $public_ipv4 $10.0.0.5');
  t.same(warnings(r), [
    'coreos.etcd2.name: $private_ipv6 has no value (give --private-ipv6 or set COREOS_PRIVATE_IPV6); replaced by ""',
  ]);
});

t.test('scripts: substitutions apply to the whole text', async (t) => {
  const r = parseUserData('#!/bin/sh\necho $private_ipv4 \\$private_ipv4 $public_ipv4\n', { substitutions: { privateIpv4: '10.1.1.1' } });
  t.equal(r.kind, 'script');
  if (r.kind !== 'script') return;
  t.equal(r.script, '#!/bin/sh\necho 10.1.1.1 $private_ipv4 \n');
  t.match(r.diagnostics, [{ severity: 'warning', message: /\$public_ipv4 has no value/ }]);
});

t.test('write_files encodings', async (t) => {
  const text = 'hello, world\n';
  const b64 = Buffer.from(text).toString('base64');
  const gz = gzipSync(Buffer.from(text));
  const gzb64 = gz.toString('base64');
  const wrapped = gzb64.replace(/(.{8})/g, '$1\n      ');
  const encs: [string, string][] = [
    ['b64', b64],
    ['base64', b64],
    ['gz+b64', gzb64],
    ['gz+base64', gzb64],
    ['gzip+b64', gzb64],
    ['gzip+base64', gzb64],
  ];
  const body = encs.map(([e, c], i) => `  - path: /f${i}\n    encoding: ${e}\n    content: ${c}\n`).join('');
  const c = config(parse(`write_files:\n${body}  - path: /wrapped\n    encoding: gzip+base64\n    content: |\n      ${wrapped}\n  - path: /gz\n    encoding: gzip\n    content: !!binary ${gzb64}\n  - path: /plain\n    content: "caf\\u00e9"\n`));
  for (const f of c.writeFiles.slice(0, encs.length)) t.equal(f.content.toString(), text, f.source);
  t.equal(c.writeFiles[encs.length]!.content.toString(), text, 'base64 broken over lines');
  t.equal(c.writeFiles[encs.length + 1]!.content.toString(), text, 'gzip given as !!binary');
  t.same(c.writeFiles[encs.length + 2]!.content, Buffer.from('café', 'utf8'), 'plain text is UTF-8');

  const bad = parse('write_files:\n  - path: /a\n    encoding: b64\n    content: "not base64!"\n  - path: /b\n    encoding: gzip+base64\n    content: aGVsbG8=\n');
  t.same(errors(bad), [
    'write_files[0].content: cannot be decoded as "b64": not valid base64',
    'write_files[1].content: cannot be decoded as "gzip+base64": not valid gzip data (incorrect header check)',
  ]);
});

t.test('permissions follow ^0?[0-7]{3,4}$; unquoted octal numbers are read as written', async (t) => {
  const good = ['0644', '644', '0755', '1777', '04755', '0000'];
  for (const p of good) {
    const c = config(parse(`write_files:\n  - path: /x\n    permissions: ${p}\n`));
    t.equal(c.writeFiles[0]!.mode, parseInt(p, 8), `unquoted ${p}`);
    const q = config(parse(`write_files:\n  - path: /x\n    permissions: '${p}'\n`));
    t.equal(q.writeFiles[0]!.mode, parseInt(p, 8), `quoted ${p}`);
  }
  for (const p of ['999', '64', '0o644', '075555', 'rw-r--r--', '08']) {
    t.same(errors(parse(`write_files:\n  - path: /x\n    permissions: '${p}'\n`)), [
      `write_files[0].permissions: ${JSON.stringify(p)} is not an octal mode`,
    ]);
  }
  const dflt = config(parse('write_files:\n  - path: /x\n'));
  t.equal(dflt.writeFiles[0]!.mode, 0o644, 'default 0644');
  t.equal(dflt.writeFiles[0]!.content.length, 0, 'no content: an empty file');
});

t.test('unit checks that look at several fields', async (t) => {
  const r = parse(`
coreos:
  units:
    - name: masked.service
      mask: true
      content: "[Service]\\nExecStart=/bin/true\\n"
    - name: 10-eth0.network
      enable: true
      command: restart
      content: "[Match]\\nName=eth0\\n"
    - name: idle.service
    - name: a@.service
      content: x
    - name: a@b.service
      command: start
    - name: d.service
      drop_ins:
        - name: override
          content: x
        - name: empty.conf
        - name: ../evil.conf
          content: x
`);
  t.same(errors(r), ['coreos.units[5].drop_ins[2].name: "../evil.conf" must be a plain file name']);
  t.same(warnings(r).sort(), [
    'coreos.units[0].content: ignored because mask is set (the unit file becomes a link to /dev/null)',
    'coreos.units[1].command: ignored for network units: systemd-networkd is restarted when they change',
    'coreos.units[1].enable: network units cannot be enabled; ignored',
    'coreos.units[2]: unit "idle.service" has nothing to do (no content, drop_ins, command, enable, mask or runtime)',
    'coreos.units[5].drop_ins[0].name: "override" does not end in ".conf", so systemd will not read it',
    'coreos.units[5].drop_ins[1].content: empty drop-in; nothing is written',
  ].sort());
});

t.test('unit names', async (t) => {
  const ok = ['a.service', 'a@.service', 'a@b.service', 'foo-bar_baz:x.timer', 'x.network', 'dev-sda1.swap', 'a\\x2db.mount'];
  for (const n of ok) t.same(errors(parse(`coreos:\n  units:\n    - name: '${n}'\n      command: start\n`)), [], n);
  const bad: [string, RegExp][] = [
    ['a.conf', /does not end in a unit type/],
    ['.service', /nothing before the type suffix/],
    ['@x.service', /nothing before the type suffix/],
    ['a b.service', /characters not allowed/],
    ['a/b.service', /characters not allowed/],
    ['x'.repeat(250) + '.service', /longer than 255/],
  ];
  for (const [n, re] of bad) t.match(errors(parse(`coreos:\n  units:\n    - name: '${n}'\n      command: start\n`)), [re], n);
});

t.test('duplicates: a later write of the same path wins, with a warning', async (t) => {
  const r = parse('write_files:\n  - path: /etc/a\n    content: one\n  - path: /etc/a\n    content: two\n');
  config(r);
  t.same(warnings(r), ['write_files[1].path: "/etc/a" is also written by write_files[0]; the later entry wins']);
});

t.test('YAML readings: 1.2 scalars, with yes/no/on/off accepted for booleans as go-yaml did', async (t) => {
  const c = config(parse(`coreos:
  units:
    - name: a.service
      enable: yes
      runtime: on
      mask: no
      content: y
  etcd2:
    proxy: off
    name: e1
write_files:
  - path: /x
    content: !!binary aGk=
`));
  t.match(c.coreos.units[0], { enable: true, runtime: true, mask: false, content: 'y' });
  t.equal(c.coreos.etcd2?.proxy, 'off', 'proxy: off is the text "off"');
  t.equal(c.coreos.etcd2?.name, 'e1');
  t.equal(c.writeFiles[0]!.content.toString(), 'hi', '!!binary is bytes');
  t.same(errors(parse('coreos:\n  units:\n    - name: a.service\n      enable: "yes"\n')), [
    'coreos.units[0].enable: expected a boolean (true or false), got a string ("yes")',
  ], 'quoted words stay text');
});

t.test('anchors, aliases and merge keys work', async (t) => {
  const c = config(parse(`
x-base: &base
  runtime: true
  command: start
coreos:
  units:
    - <<: *base
      name: a.service
    - <<: *base
      name: b.service
      command: restart
`));
  t.match(c.coreos.units, [
    { name: 'a.service', runtime: true, command: 'start' },
    { name: 'b.service', runtime: true, command: 'restart' },
  ]);
});

t.test('a byte-order mark before the header is accepted', async (t) => {
  const r = parseUserData('\uFEFF#cloud-config\nhostname: a\n');
  t.equal(r.kind, 'cloud-config');
  t.same(errors(r), []);
});
