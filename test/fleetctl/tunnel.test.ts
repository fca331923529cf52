/**
 * --tunnel and `fleetctl ssh` through the system's OpenSSH against a real sshd on loopback (skipped when the
 * box has no /usr/sbin/sshd). Keys come from a throw-away ssh-agent; nothing in ~/.ssh is touched.
 * sshd needs root here (it creates /run/sshd), so this file runs in the lab tier (test/harness/tiers.ts):
 * test-tier: lab
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, startEtcd } from '../harness/etcd.js';
import { M1, addMachine, startApi } from '../api/fixture.js';
import { fleetctl as fleetctlRun, type RunOpts } from './helpers.js';

/** `fleetctl ssh` as a child process: ssh writes to the terminal it inherits, which must be the child's to be read. */
const fleetctl = (args: readonly string[], o: RunOpts = {}) => fleetctlRun(args, { ...o, child: true });
/**
 * --tunnel in this process: the tunnel's ssh must get the invocation's environment (its SSH_AUTH_SOCK, which this
 * process lacks), not this process's, or it finds no key and the tunnel fails.
 */
const inProcess = (args: readonly string[], o: RunOpts = {}) => fleetctlRun(args, o);

const SSHD = process.env.FLEET_TEST_SSHD ?? '/usr/sbin/sshd';
if (process.env.SSH_AUTH_SOCK !== undefined) delete process.env.SSH_AUTH_SOCK; // keys only from the invocation's env
if (!existsSync(SSHD)) t.plan(0, `no OpenSSH server at ${SSHD} (apt-get install openssh-server)`);
else await withSshd();

async function withSshd(): Promise<void> {

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-ssh-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const procs: ChildProcess[] = [];
t.teardown(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'user_key')]);
writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'user_key.pub')));
const port = await freePort();
mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
writeFileSync(
  path.join(dir, 'sshd_config'),
  [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    'AllowStreamLocalForwarding yes',
    'LogLevel ERROR',
    '',
  ].join('\n'),
);
const sshd = spawn(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
procs.push(sshd);
const agentSock = path.join(dir, 'agent.sock');
const agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
procs.push(agent);
for (let i = 0; i < 100 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 50));
execFileSync('ssh-add', ['-q', path.join(dir, 'user_key')], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
for (let i = 0; i < 100; i++) {
  const up = await new Promise<boolean>((resolve) => {
    const c = net.createConnection({ host: '127.0.0.1', port });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
  if (up) break;
  await new Promise((r) => setTimeout(r, 50));
}

const user = os.userInfo().username;
const sshEnv = { SSH_AUTH_SOCK: agentSock };
const sshFlags = ['--ssh-username', user, '--strict-host-key-checking=false', '--ssh-timeout', '5'];

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd, tcp: true });
await addMachine(t, f.registry, M1, '127.0.0.1');

t.test('--tunnel to the unix socket endpoint (ssh -L to the bastion\'s socket)', async (t) => {
  const r = await inProcess([...sshFlags, '--tunnel', `127.0.0.1:${port}`, '--endpoint', `unix://${f.socket}`, 'list-machines', '--no-legend'], { env: sshEnv });
  t.same(r, { code: 0, stdout: '113f16a7...\t127.0.0.1\t-\n', stderr: '' });
});

t.test('--tunnel to a TCP endpoint and to etcd', async (t) => {
  const api = await inProcess([...sshFlags, '--tunnel', `127.0.0.1:${port}`, '--endpoint', `http://${f.tcp}`, 'list-machines', '--no-legend'], { env: sshEnv });
  t.same(api, { code: 0, stdout: '113f16a7...\t127.0.0.1\t-\n', stderr: '' });
  const viaEtcd = await inProcess(
    [...sshFlags, '--tunnel', `127.0.0.1:${port}`, '--driver=etcd', '--endpoint', etcd.endpoint, '--etcd-key-prefix', f.registry.prefix, 'list-machines', '--no-legend'],
    { env: sshEnv },
  );
  t.same(viaEtcd, api);
  // fleet's client dialled through the SSH connection, so its debug lines showed the endpoint asked for
  const debug = await inProcess([...sshFlags, '--debug', '--tunnel', `127.0.0.1:${port}`, '--endpoint', `http://${f.tcp}`, 'list-machines', '--no-legend'], { env: sshEnv });
  t.match(debug.stderr, new RegExp(`^\\S+ \\S+ DEBUG http\\.go:28: HTTP GET http://${(f.tcp ?? '').replace(/\./g, '\\.')}/fleet/v1/machines\\?alt=json\n`), 'the endpoint, not the local end of the tunnel');
});

t.test('a tunnel that cannot be opened is one line', async (t) => {
  const closed = await freePort();
  const r = await inProcess([...sshFlags, '--tunnel', `127.0.0.1:${closed}`, '--endpoint', `unix://${f.socket}`, 'list-machines'], { env: sshEnv });
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^Error: cannot open --tunnel 127\\.0\\.0\\.1:${closed}: ssh exited with status 255: .*\\n$`));
});

t.test('fleetctl ssh runs a command on the machine and passes its exit status on', async (t) => {
  const r = await fleetctl([...sshFlags, '--endpoint', `unix://${f.socket}`, 'ssh', '--ssh-port', String(port), '113f', '--', 'echo', 'hello from', '$((6*7))'], { env: sshEnv });
  t.same(r, { code: 0, stdout: 'hello from 42\n', stderr: '' });
  const exit = await fleetctl([...sshFlags, '--endpoint', `unix://${f.socket}`, 'ssh', '--ssh-port', String(port), '--machine', M1, '--', 'exit', '7'], { env: sshEnv });
  t.equal(exit.code, 7);
  const none = await fleetctl([...sshFlags, '--endpoint', `unix://${f.socket}`, 'ssh', 'nope'], { env: sshEnv });
  t.same(none, { code: 1, stdout: '', stderr: 'Unable to proceed: could not find matching unit or machine\n' });
  const both = await fleetctl([...sshFlags, '--endpoint', `unix://${f.socket}`, 'ssh', '--machine', 'a', '--unit', 'b'], { env: sshEnv });
  t.same(both, { code: 1, stdout: '', stderr: 'Both machine and unit flags provided, please specify only one.\n' });
});
}
