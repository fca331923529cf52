// Applies into a temp root with owners other than the caller (chown) and runs useradd --root: needs root.
// test-tier: lab
import t from 'tap';
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyPlan, readAccounts, type ApplyReport } from '../../cloud-config/apply.js';
import { InvalidDocumentError } from '../../cloud-config/errors.js';
import { parseUserData } from '../../cloud-config/parse.js';
import { describeStep, planCloudConfig, planScript, type Plan } from '../../cloud-config/plan.js';
import type { Substitutions } from '../../cloud-config/types.js';
import { useraddArgs } from '../../cloud-config/users.js';
import { makeRoot, snapshot } from './helpers.js';

function plan(body: string, substitutions: Substitutions = {}): Plan {
  const r = parseUserData(`#cloud-config\n${body}`, { substitutions });
  if (r.kind !== 'cloud-config' || !r.config) throw new Error(`invalid: ${JSON.stringify(r.diagnostics)}`);
  return planCloudConfig(r.config, { substitutions });
}

const outcomes = (r: ApplyReport): string[] =>
  r.results.map((x) => `${x.outcome}: ${describeStep(x.step)}${x.detail ? ` [${x.detail}]` : ''}`);

async function mode(path: string): Promise<string> {
  const st = await lstat(path);
  return `${(st.mode & 0o7777).toString(8).padStart(4, '0')} ${st.uid}:${st.gid}`;
}

const DOC = `
hostname: node-1
users:
  - name: alice
    groups: [sudo]
    ssh_authorized_keys: [ssh-ed25519 AAAA alice@laptop]
write_files:
  - path: /etc/motd
    content: hello $private_ipv4
  - path: /etc/app/secret.conf
    permissions: '0640'
    owner: alice:www
    content: token=abc
  - path: /etc/app/by-id
    permissions: 0755
    owner: "33:33"
    encoding: b64
    content: IyEvYmluL3NoCg==
  - path: /var/www/index.html
    owner: www
    content: <h1>hi</h1>
coreos:
  fleet:
    public-ip: $private_ipv4
    metadata: role=web
  units:
    - name: hello.service
      enable: true
      content: |
        [Service]
        ExecStart=/bin/sleep 1000
      command: start
      drop-ins:
        - name: 10-env.conf
          content: |
            [Service]
            Environment=A=1
    - name: eth0.network
      runtime: true
      content: |
        [Match]
        Name=eth0
    - name: bad.service
      mask: true
`;

t.test('apply into a --root: files, modes, owners, units, drop-ins; a second apply changes nothing', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = plan(DOC, { privateIpv4: '10.0.0.7' });
  const first = await applyPlan(p, { root });
  t.equal(first.error, undefined);
  t.same(outcomes(first), [
    'changed: set hostname node-1',
    'changed: ensure user alice exists (users[0]) [created]',
    'changed: authorize 1 SSH key for alice as coreos-cloudinit (users[0].ssh_authorized_keys)',
    'changed: write /etc/motd mode 0644 (write_files[0])',
    'changed: write /etc/app/secret.conf mode 0640 owner alice:www (write_files[1])',
    'changed: write /etc/app/by-id mode 0755 owner 33:33 (write_files[2])',
    'changed: write /var/www/index.html mode 0644 owner www (write_files[3])',
    'changed: set COREOS_PRIVATE_IPV4 in /etc/environment',
    'changed: write /etc/systemd/system/hello.service mode 0644 (coreos.units[0])',
    'changed: write /etc/systemd/system/hello.service.d/10-env.conf mode 0644 (coreos.units[0].drop_ins[0])',
    'skipped: enable hello.service [no systemd connection]',
    'changed: write /run/systemd/network/eth0.network mode 0644 (coreos.units[1])',
    'unchanged: unmask eth0.network if masked (/run/systemd/network/eth0.network)',
    'changed: mask bad.service (/etc/systemd/system/bad.service -> /dev/null)',
    'changed: write /run/systemd/system/fleet.service.d/20-cloudinit.conf mode 0644 (coreos.fleet)',
    'unchanged: unmask fleet.service if masked (/run/systemd/system/fleet.service)',
    'skipped: daemon-reload [no systemd connection]',
    'skipped: restart systemd-networkd.service [no systemd connection]',
    'skipped: start hello.service [no systemd connection]',
  ]);

  const alice = (await readAccounts(root)).users.find((u) => u.name === 'alice');
  t.ok(alice, 'alice was created by useradd in the root');
  const aliceGroup = (await readAccounts(root)).groups.find((g) => g.name === 'alice');
  t.ok(aliceGroup, 'with a user group');
  t.match((await readAccounts(root)).groups.find((g) => g.name === 'sudo')?.members, ['alice']);
  t.equal((await readAccounts(root)).shadow.get('alice'), '*', 'no passwd means a locked password');

  t.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'node-1\n');
  t.equal(await readFile(join(root, 'etc/motd'), 'utf8'), 'hello 10.0.0.7');
  t.equal(await mode(join(root, 'etc/motd')), '0644 0:0');
  t.equal(await mode(join(root, 'etc/app/secret.conf')), `0640 ${alice!.uid}:33`);
  t.equal(await mode(join(root, 'etc/app/by-id')), '0755 33:33');
  t.equal(await readFile(join(root, 'etc/app/by-id'), 'utf8'), '#!/bin/sh\n');
  t.equal(await mode(join(root, 'var/www/index.html')), '0644 33:0', 'owner without group keeps our group');
  t.equal(await mode(join(root, 'etc/app')), '0755 0:0', 'parents are created 0755');
  t.equal(await readFile(join(root, 'etc/environment'), 'utf8'), 'COREOS_PRIVATE_IPV4=10.0.0.7\n');
  t.equal(await readFile(join(root, 'etc/systemd/system/hello.service'), 'utf8'), '[Service]\nExecStart=/bin/sleep 1000\n');
  t.equal(await readFile(join(root, 'etc/systemd/system/hello.service.d/10-env.conf'), 'utf8'), '[Service]\nEnvironment=A=1\n');
  t.equal(await readFile(join(root, 'run/systemd/network/eth0.network'), 'utf8'), '[Match]\nName=eth0\n');
  t.equal(await readlink(join(root, 'etc/systemd/system/bad.service')), '/dev/null');
  t.equal(
    await readFile(join(root, 'run/systemd/system/fleet.service.d/20-cloudinit.conf'), 'utf8'),
    '[Service]\nEnvironment="FLEET_METADATA=role=web"\nEnvironment="FLEET_PUBLIC_IP=10.0.0.7"\n',
  );
  const home = join(root, alice!.home);
  t.equal(await mode(join(home, '.ssh')), `0700 ${alice!.uid}:${alice!.gid}`);
  t.equal(await mode(join(home, '.ssh/authorized_keys.d')), `0700 ${alice!.uid}:${alice!.gid}`);
  t.equal(await mode(join(home, '.ssh/authorized_keys.d/coreos-cloudinit')), `0600 ${alice!.uid}:${alice!.gid}`);
  t.equal(await readFile(join(home, '.ssh/authorized_keys.d/coreos-cloudinit'), 'utf8'), 'ssh-ed25519 AAAA alice@laptop\n');
  t.match(await readFile(join(home, '.ssh/authorized_keys'), 'utf8'), /^# Generated by coreos-cloudinit.*\nssh-ed25519 AAAA alice@laptop\n$/);

  const before = await snapshot(root);
  const second = await applyPlan(p, { root });
  t.equal(second.error, undefined);
  t.same(
    second.results.filter((r) => r.outcome === 'changed').map((r) => describeStep(r.step)),
    [],
    'nothing changed the second time',
  );
  t.match(outcomes(second), ['unchanged: set hostname node-1', 'unchanged: ensure user alice exists (users[0]) [exists]']);
  t.same(await snapshot(root), before, 'same inodes, mtimes, modes, owners and contents');
});

t.test('content, mode or owner drift is repaired, and only that file is rewritten', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = plan('write_files:\n  - {path: /etc/a, content: a, permissions: "0600", owner: www}\n  - {path: /etc/b, content: b}\n');
  await applyPlan(p, { root });
  const { chmod, chown } = await import('node:fs/promises');
  await chmod(join(root, 'etc/a'), 0o644);
  let r = await applyPlan(p, { root });
  t.same(r.results.map((x) => x.outcome), ['changed', 'unchanged'], 'mode drift');
  t.equal(await mode(join(root, 'etc/a')), '0600 33:0');
  await chown(join(root, 'etc/a'), 0, 0);
  r = await applyPlan(p, { root });
  t.same(r.results.map((x) => x.outcome), ['changed', 'unchanged'], 'owner drift');
  await writeFile(join(root, 'etc/b'), 'tampered');
  r = await applyPlan(p, { root });
  t.same(r.results.map((x) => x.outcome), ['unchanged', 'changed'], 'content drift');
  t.equal(await readFile(join(root, 'etc/b'), 'utf8'), 'b');
});

t.test('an unknown owner or group fails before anything is written', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = plan(`
hostname: h
write_files:
  - {path: /etc/one, content: x}
  - {path: /etc/two, owner: nobody-here, content: x}
  - {path: /etc/three, owner: "www:nogroup", content: x}
users:
  - name: bob
    groups: [wheel]
`);
  const before = await snapshot(root);
  const err = await applyPlan(p, { root }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, InvalidDocumentError);
  t.same((err as InvalidDocumentError).diagnostics.map((d) => `${d.path}: ${d.message}`), [
    'users[0].groups[0]: group "wheel" does not exist',
    'write_files[1].owner: user "nobody-here" does not exist (not in /etc/passwd and not created by users)',
    'write_files[2].owner: group "nogroup" does not exist (not in /etc/group and not created by users)',
  ]);
  t.same(await snapshot(root), before, 'the root is untouched');
});

t.test('owners may name users (and their groups) the same document creates', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = plan('users:\n  - name: carol\nwrite_files:\n  - {path: /etc/c, owner: "carol:carol", content: x}\n  - {path: /etc/d, owner: "carol:", content: x}\n');
  const r = await applyPlan(p, { root });
  t.equal(r.error, undefined);
  const carol = (await readAccounts(root)).users.find((u) => u.name === 'carol')!;
  t.equal(await mode(join(root, 'etc/c')), `0644 ${carol.uid}:${carol.gid}`);
  t.equal(await mode(join(root, 'etc/d')), `0644 ${carol.uid}:${carol.gid}`, '"user:" means the login group');
});

t.test('users: an existing user only gets its password updated', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = plan('users:\n  - name: www\n    passwd: $6$abc$def\n    shell: /bin/zsh\n    groups: [sudo]\n');
  let r = await applyPlan(p, { root });
  t.same(outcomes(r), ['changed: ensure user www exists with the given password (users[0]) [password set]']);
  const acc = await readAccounts(root);
  t.equal(acc.shadow.get('www'), '$6$abc$def');
  t.equal(acc.users.find((u) => u.name === 'www')!.shell, '/usr/sbin/nologin', 'creation-time fields are ignored');
  r = await applyPlan(p, { root });
  t.same(outcomes(r), ['unchanged: ensure user www exists with the given password (users[0]) [exists]']);
});

t.test('useradd arguments', async (t) => {
  t.same(
    useraddArgs(
      {
        name: 'dave',
        passwd: '$6$x',
        gecos: 'Dave D',
        homedir: '/srv/dave',
        noCreateHome: true,
        primaryGroup: 'users',
        groups: ['sudo', 'docker'],
        noUserGroup: true,
        system: true,
        noLogInit: true,
        shell: '/bin/sh',
        sshAuthorizedKeys: [],
        source: 'users[0]',
      },
      '/tmp/r',
    ),
    ['useradd', '--root', '/tmp/r', '--password', '$6$x', '--comment', 'Dave D', '--home-dir', '/srv/dave', '--no-create-home',
      '--gid', 'users', '--groups', 'sudo,docker', '--no-user-group', '--system', '--no-log-init', '--shell', '/bin/sh', 'dave'],
  );
  t.same(
    useraddArgs({ name: 'e', sshAuthorizedKeys: [], noCreateHome: false, groups: [], noUserGroup: false, system: false, noLogInit: false, source: 'users[0]' }, '/'),
    ['useradd', '--password', '*', '--create-home', 'e'],
  );
});

t.test('top-level ssh_authorized_keys go to core (created when missing); an old authorized_keys is kept', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = plan('ssh_authorized_keys:\n  - ssh-ed25519 KEY1 one\n  - "  ssh-ed25519 KEY2 two  "\n');
  let r = await applyPlan(p, { root });
  t.same(outcomes(r), [
    'changed: ensure user core exists (ssh_authorized_keys) [created]',
    'changed: authorize 2 SSH keys for core as coreos-cloudinit (ssh_authorized_keys)',
  ]);
  const core = (await readAccounts(root)).users.find((u) => u.name === 'core')!;
  t.equal(core.home, '/home/core');
  const ssh = join(root, 'home/core/.ssh');
  t.equal(await readFile(join(ssh, 'authorized_keys.d/coreos-cloudinit'), 'utf8'), 'ssh-ed25519 KEY1 one\nssh-ed25519 KEY2 two\n');

  const root2 = await makeRoot((fn) => t.teardown(fn));
  await mkdir(join(root2, 'home/www/.ssh'), { recursive: true });
  await writeFile(join(root2, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\ncore:x:500:500::/home/www:/bin/sh\n');
  await writeFile(join(root2, 'home/www/.ssh/authorized_keys'), 'ssh-rsa OLD old@key');
  r = await applyPlan(p, { root: root2 });
  t.equal(r.error, undefined);
  t.equal(r.results[0]!.outcome, 'unchanged', 'existing core is used');
  const ssh2 = join(root2, 'home/www/.ssh');
  t.equal(await readFile(join(ssh2, 'authorized_keys.d/old_authorized_keys'), 'utf8'), 'ssh-rsa OLD old@key');
  t.equal(
    await readFile(join(ssh2, 'authorized_keys'), 'utf8'),
    '# Generated by coreos-cloudinit from ~/.ssh/authorized_keys.d/; edit the files there.\n' +
      'ssh-ed25519 KEY1 one\nssh-ed25519 KEY2 two\nssh-rsa OLD old@key\n',
  );
  t.equal(await mode(join(ssh2, 'authorized_keys')), '0600 500:500');
  r = await applyPlan(p, { root: root2 });
  t.same(r.results.map((x) => x.outcome), ['unchanged', 'unchanged']);
});

t.test('/etc/environment keeps its other lines', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  await writeFile(join(root, 'etc/environment'), 'PATH=/usr/bin\nCOREOS_PUBLIC_IPV4=1.1.1.1\n# comment\n');
  const p = plan('hostname: h\n', { publicIpv4: '203.0.113.1', privateIpv4: '10.0.0.1' });
  await applyPlan(p, { root });
  t.equal(
    await readFile(join(root, 'etc/environment'), 'utf8'),
    'PATH=/usr/bin\nCOREOS_PUBLIC_IPV4=203.0.113.1\n# comment\nCOREOS_PRIVATE_IPV4=10.0.0.1\n',
  );
});

t.test('runtime units are unmasked; masks are links to /dev/null', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  await mkdir(join(root, 'run/systemd/system'), { recursive: true });
  await symlink('/dev/null', join(root, 'run/systemd/system/a.service'));
  await writeFile(join(root, 'run/systemd/system/b.service'), '');
  await writeFile(join(root, 'run/systemd/system/c.service'), '[Service]\nExecStart=/bin/true\n');
  const p = plan(`coreos:
  units:
    - {name: a.service, runtime: true, command: start}
    - {name: b.service, runtime: true, command: start}
    - {name: c.service, runtime: true, command: start}
    - {name: d.service, mask: true, runtime: true}
`);
  const r = await applyPlan(p, { root });
  t.same(outcomes(r).slice(0, 4), [
    'changed: unmask a.service if masked (/run/systemd/system/a.service)',
    'changed: unmask b.service if masked (/run/systemd/system/b.service)',
    'unchanged: unmask c.service if masked (/run/systemd/system/c.service)',
    'changed: mask d.service (/run/systemd/system/d.service -> /dev/null)',
  ]);
  await t.rejects(lstat(join(root, 'run/systemd/system/a.service')));
  await t.rejects(lstat(join(root, 'run/systemd/system/b.service')));
  t.ok((await lstat(join(root, 'run/systemd/system/c.service'))).isFile(), 'a real unit file is not removed');
  t.equal(await readlink(join(root, 'run/systemd/system/d.service')), '/dev/null');
  const again = await applyPlan(p, { root });
  t.same(again.results.filter((x) => x.outcome === 'changed'), []);
});

t.test('scripts are stored 0700 under /var/lib/coreos-cloudinit/scripts (not run without systemd)', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  const p = planScript('#!/bin/sh\necho hi\n');
  const r = await applyPlan(p, { root });
  const step = p.steps[0]!;
  if (step.kind !== 'script') throw new Error('expected a script step');
  t.match(outcomes(r), [/^skipped: run script .* \[stored at \/var\/lib\/coreos-cloudinit\/scripts\/[0-9a-f]+; not run without systemd\]$/]);
  t.equal(await mode(join(root, step.path)), '0700 0:0');
  t.equal(await readFile(join(root, step.path), 'utf8'), '#!/bin/sh\necho hi\n');
});

t.test('a failing step stops the apply and is reported', async (t) => {
  const root = await makeRoot((fn) => t.teardown(fn));
  await writeFile(join(root, 'blocker'), 'a file where a directory must go');
  const p = plan('write_files:\n  - {path: /blocker/x, content: x}\n  - {path: /etc/after, content: x}\n');
  const r = await applyPlan(p, { root });
  t.equal(r.results.length, 1);
  t.equal(r.results[0]!.outcome, 'failed');
  t.match(r.error?.message, /^write \/blocker\/x mode 0644 \(write_files\[0\]\): .*not a directory/);
  await t.rejects(lstat(join(root, 'etc/after')), 'later steps did not run');
});
