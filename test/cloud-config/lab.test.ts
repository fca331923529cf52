/**
 * coreos-cloudinit inside a real lab machine (systemd as PID 1): users created, files written with their
 * owner and mode, units written, enabled, masked and started through D-Bus; a second run changes nothing.
 */
import t from 'tap';
import { startLab } from '../harness/lab.js';
import { PROJECT_MOUNT } from '../../lab/names.js';

const CLOUDINIT = `${PROJECT_MOUNT}/dist/cloud-config/main.js`;

const DOC = `#cloud-config
hostname: cc-node
users:
  - name: deploy
    groups: [users]
    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeploy deploy@test]
write_files:
  - path: /etc/cc-test/app.conf
    permissions: '0640'
    owner: deploy:deploy
    content: ip=$private_ipv4
coreos:
  fleet:
    public-ip: $private_ipv4
    metadata: role=cc
  units:
    - name: cc-hello.service
      enable: true
      content: |
        [Unit]
        Description=cloud-config test service
        [Service]
        ExecStart=/bin/sleep 1000
        [Install]
        WantedBy=multi-user.target
      drop-ins:
        - name: 10-env.conf
          content: |
            [Service]
            Environment=GREETING=hi-$private_ipv4
      command: start
    - name: cc-oneshot.service
      runtime: true
      content: |
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/bin/sh -c 'echo ran > /run/cc-oneshot'
      command: start
    - name: cc-masked.service
      mask: true
`;

t.test('apply a document inside a lab machine', async (t) => {
  const lab = await startLab(t, { machines: 1, fleet: false, prefix: 'cc' });
  const m1 = await lab.machine('m1');
  const apply = () => lab.exec('m1', ['node', CLOUDINIT, '--from-file', '-', '--private-ipv4', m1.ip], { input: DOC });

  const first = await apply();
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^changed: set hostname cc-node$/m);
  t.match(first.stdout, /^ran: daemon-reload$/m);
  t.match(first.stdout, /^changed: enable cc-hello\.service$/m);
  t.match(first.stdout, /^ran: start cc-hello\.service \[job done\]$/m);
  t.match(first.stdout, /^ran: start cc-oneshot\.service \[job done\]$/m);

  const sys = await lab.systemd('m1');
  t.match(await sys.getUnitState('cc-hello.service'), { loadState: 'loaded', activeState: 'active', subState: 'running' });
  t.match(await sys.getUnitState('cc-oneshot.service'), { activeState: 'active', subState: 'exited' });
  t.equal(await sys.getUnitFileState('cc-hello.service'), 'enabled');
  t.equal(await sys.getUnitFileState('cc-masked.service'), 'masked');

  const facts = await lab.sh(
    'm1',
    [
      'stat -c "%a %U:%G" /etc/cc-test/app.conf',
      'cat /etc/cc-test/app.conf; echo',
      'stat -c "%a %U:%G" /home/deploy/.ssh/authorized_keys',
      'id -nG deploy',
      'cat /run/cc-oneshot',
      'systemctl show -p Environment --value cc-hello.service',
      'hostname',
      'cat /run/systemd/system/fleet.service.d/20-cloudinit.conf',
    ].join('; '),
  );
  t.equal(facts.code, 0, facts.stderr);
  t.equal(
    facts.stdout,
    [
      '640 deploy:deploy',
      `ip=${m1.ip}`,
      '600 deploy:deploy',
      'deploy users',
      'ran',
      `GREETING=hi-${m1.ip}`,
      'cc-node',
      '[Service]',
      'Environment="FLEET_METADATA=role=cc"',
      `Environment="FLEET_PUBLIC_IP=${m1.ip}"`,
      '',
    ].join('\n'),
  );

  const second = await apply();
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /^0 changed, \d+ unchanged, 2 ran, 0 skipped, 0 failed$/m, 'nothing changes the second time; commands run again');
  t.match(second.stdout, /^unchanged: daemon-reload \[no unit file changed\]$/m);
  t.match(await sys.getUnitState('cc-hello.service'), { activeState: 'active', subState: 'running' });

  const bad = await lab.exec('m1', ['node', CLOUDINIT, '--from-file', '-'], {
    input: '#cloud-config\nwrite_files:\n  - path: /etc/cc-test/new\n    owner: nobody-such\n',
  });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /write_files\[0\]\.owner: user "nobody-such" does not exist/);
  const absent = await lab.sh('m1', 'test -e /etc/cc-test/new');
  t.not(absent.code, 0, 'nothing written');

  const script = await lab.exec('m1', ['node', CLOUDINIT, '--from-file', '-', '--private-ipv4', m1.ip], {
    input: "#!/bin/sh\necho 'script saw $private_ipv4 and \\$private_ipv4' > /run/cc-script\n",
  });
  t.equal(script.code, 0, script.stderr);
  const unit = /started as (coreos-cloudinit-[0-9a-f]+\.service)/.exec(script.stdout)?.[1];
  t.ok(unit, script.stdout);
  let out = '';
  for (let i = 0; i < 100 && out === ''; i++) {
    out = (await lab.sh('m1', 'cat /run/cc-script 2>/dev/null')).stdout;
    if (out === '') await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(out, `script saw ${m1.ip} and $private_ipv4\n`, 'the script ran as a transient unit');
});
