import t from 'tap';
import { tabwrite } from '../../fleetctl/tabwriter.js';
import { BufferOutput, goList } from '../../fleetctl/output.js';
import { goQuote } from '../../lib/unit/fleet-words.js';
import { Progress } from '../../fleetctl/progress.js';
import { parseApiEndpoint, parseEtcdEndpoints } from '../../fleetctl/client/endpoint.js';
import { fleetSshFailure, goDialError, shellQuote, splitHostPort, sshArgs } from '../../fleetctl/client/ssh.js';
import { blockAttempts } from '../../fleetctl/wait.js';
import { machineLegend } from '../../fleetctl/context.js';
import { formatMetadata } from '../../fleetctl/commands/list-machines.js';
import { mangleName, withDefaultType, templateOf } from '../../fleetctl/unitfile.js';

t.test('tabwriter: Go text/tabwriter with minwidth 0, tabwidth 8, padding 1, padchar tab', async (t) => {
  t.equal(tabwrite('a\tb\tc\td\t.\n123\t12345\t1234567\t123456789\t.\n'), 'a\tb\tc\td\t\t.\n123\t12345\t1234567\t123456789\t.\n');
  t.equal(tabwrite('MACHINE\tIP\tMETADATA\n148a18ff...\t10.10.1.1\t-\n'), 'MACHINE\t\tIP\t\tMETADATA\n148a18ff...\t10.10.1.1\t-\n');
  t.equal(tabwrite('aaaaaaaaa\tb\nx\nc\td\n'), 'aaaaaaaaa\tb\nx\nc\td\n', 'a line without the column ends the column block');
  t.equal(tabwrite('a\t\tb\nccccccccc\t\td\n'), 'a\t\t\tb\nccccccccc\t\td\n', 'empty cells are padding only');
  t.equal(tabwrite('ü\tx\nab\ty\n'), 'ü\tx\nab\ty\n', 'width counts characters, not bytes');
  t.equal(tabwrite('12345678\tx\n'), '12345678\tx\n', 'padding 1 on 8 characters rounds up to the next stop');
  t.equal(tabwrite(''), '');
});

t.test('Go formatting helpers', async (t) => {
  t.equal(goList(['a.service', 'b.service']), '[a.service b.service]');
  t.equal(goList([]), '[]');
  t.equal(goQuote('bo"gus\n\t\\'), '"bo\\"gus\\n\\t\\\\"');
  t.equal(goQuote('\x01ü'), '"\\x01ü"');
  t.equal(machineLegend('113f16a7c2f84b5f8d2e1f6a3b4c5d6e', { id: 'x', primaryIP: '10.0.0.1' }, false), '113f16a7.../10.0.0.1');
  t.equal(machineLegend('113f16a7c2f84b5f8d2e1f6a3b4c5d6e', undefined, true), '113f16a7c2f84b5f8d2e1f6a3b4c5d6e');
  t.equal(formatMetadata({ z: '1', a: 'x=y' }), 'a=x=y,z=1');
});

t.test('argument mangling and block attempts like fleetctl', async (t) => {
  t.equal(mangleName('hello'), 'hello.service');
  t.equal(mangleName('dir/sub/foo.service'), 'foo.service');
  t.equal(mangleName('foo.target'), 'foo.target.service', 'target is not a type fleetctl recognises');
  t.equal(mangleName('x.socket'), 'x.socket');
  t.equal(withDefaultType('dir/hello'), 'dir/hello.service', 'the path keeps its directory');
  t.equal(templateOf('web@1.service'), 'web@.service');
  t.equal(templateOf('web.service'), undefined);
  t.equal(templateOf('web@.service'), undefined, 'a template is not an instance');
  t.equal(blockAttempts({}), 0);
  t.equal(blockAttempts({ blockAttempts: 3 }), 3);
  t.equal(blockAttempts({ blockAttempts: -2 }), 0);
  t.equal(blockAttempts({ noBlock: true, blockAttempts: 3 }), -1);
});

t.test('endpoints', async (t) => {
  t.match(parseApiEndpoint('unix:///var/run/fleet.sock'), { endpoint: { kind: 'unix', socketPath: '/var/run/fleet.sock' }, ignored: [] });
  t.match(parseApiEndpoint('file:///run/x.sock'), { endpoint: { kind: 'unix', socketPath: '/run/x.sock', display: 'unix:///run/x.sock' } });
  t.match(parseApiEndpoint('http://10.0.0.1:49153,http://10.0.0.2:49153'), { endpoint: { kind: 'tcp', tls: false, display: 'http://10.0.0.1:49153' }, ignored: ['http://10.0.0.2:49153'] });
  t.match(parseApiEndpoint('https://fleet.example/prefix/'), { endpoint: { kind: 'tcp', tls: true, display: 'https://fleet.example/prefix' } });
  t.throws(() => parseApiEndpoint('unix://var/run/fleet.sock'), /unable to connect to host "var" with scheme "unix"/);
  t.throws(() => parseApiEndpoint('10.0.0.1:49153'), /URL scheme undefined/);
  t.throws(() => parseApiEndpoint('ftp://x'), /unsupported scheme "ftp"/);
  t.throws(() => parseApiEndpoint(''), /--endpoint is empty/);
  t.same(parseEtcdEndpoints('http://a:2379, http://b:2379'), ['http://a:2379', 'http://b:2379']);
  t.throws(() => parseEtcdEndpoints('unix:///x'), /etcd endpoints use http/);
});

t.test('ssh invocation', async (t) => {
  const s = { user: 'core', tunnel: '', strictHostKeyChecking: false, knownHostsFile: '', timeout: 10, env: {} };
  t.same(sshArgs(s, '10.0.0.5', 22, { command: 'systemctl status -l x.service' }), [
    '-l', 'core', '-p', '22', '-o', 'ConnectTimeout=10', '-o', 'PreferredAuthentications=publickey',
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    '--', '10.0.0.5', 'systemctl status -l x.service',
  ]);
  const tunnelled = sshArgs({ ...s, tunnel: 'bastion:2222', strictHostKeyChecking: true, knownHostsFile: '/tmp/fleetctl-test-kh/known_hosts' }, '10.0.0.5', 2200, { forwardAgent: true });
  // the bastion is reached with the same host-key options (a -J jump host would get ~/.ssh's defaults)
  t.same(tunnelled.slice(8), [
    '-o', 'StrictHostKeyChecking=ask', '-o', 'UserKnownHostsFile=/tmp/fleetctl-test-kh/known_hosts',
    '-o', 'ProxyCommand=ssh -W %h:%p -l core -p 2222 -o ConnectTimeout=10 -o PreferredAuthentications=publickey -o StrictHostKeyChecking=ask -o UserKnownHostsFile=/tmp/fleetctl-test-kh/known_hosts -- bastion',
    '-A', '--', '10.0.0.5',
  ]);
  const odd = sshArgs({ ...s, tunnel: 'bastion', knownHostsFile: "/tmp/fleetctl-test-kh/50%it's", strictHostKeyChecking: true }, '10.0.0.5', 22, {});
  t.equal(odd.find((a) => a.startsWith('ProxyCommand=')), "ProxyCommand=ssh -W %h:%p -l core -p 22 -o ConnectTimeout=10 -o PreferredAuthentications=publickey -o StrictHostKeyChecking=ask -o 'UserKnownHostsFile=/tmp/fleetctl-test-kh/50%%it'\\''s' -- bastion", 'quoted for the shell, % doubled');
  t.same(splitHostPort('10.0.0.1', 22), ['10.0.0.1', 22]);
  t.same(splitHostPort('10.0.0.1:2222', 22), ['10.0.0.1', 2222]);
  t.same(splitHostPort('[fd00::1]:2222', 22), ['fd00::1', 2222]);
  t.same(splitHostPort('fd00::1', 22), ['fd00::1', 22]);
  t.equal(shellQuote('x.service'), 'x.service');
  t.equal(shellQuote("it's"), `'it'\\''s'`);
  // OpenSSH's connection failures as Go's dialer (fleet's client) worded them
  t.equal(goDialError('ssh: connect to host 10.0.0.5 port 2: Connection refused'), 'dial tcp 10.0.0.5:2: connect: connection refused');
  t.equal(goDialError('ssh: connect to host 10.0.0.5 port 22: Connection timed out'), 'dial tcp 10.0.0.5:22: i/o timeout');
  t.equal(goDialError('ssh: connect to host fd00::1 port 22: No route to host'), 'dial tcp [fd00::1]:22: connect: no route to host');
  t.equal(goDialError('Host key verification failed.'), undefined);
  t.equal(fleetSshFailure('nobody@10.0.0.5: Permission denied (publickey).'), 'ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain');
  t.equal(fleetSshFailure('ssh: connect to host 10.0.0.5 port 2: Connection refused'), 'dial tcp 10.0.0.5:2: connect: connection refused');
  t.equal(fleetSshFailure('Permission denied, please try again.'), undefined);
});

t.test('progress: redrawn in place on a terminal, plain final lines when piped', async (t) => {
  const tty = new BufferOutput(true, 80);
  const p = new Progress(tty, ['a.service', 'b.service'], (n) => `${n}: waiting`);
  p.update('a.service', 'a.service: loaded, waiting for launched (1s)');
  p.finish('b.service', 'Unit b.service launched on 113f16a7.../10.0.0.1');
  p.finish('a.service', 'Unit a.service launched on 2a9b3c4d.../10.0.0.2');
  const frames = tty.stdout.split('\x1b[2A');
  t.equal(frames.length, 4, 'every redraw moves up over the block');
  t.equal(frames[0], '\r\x1b[2Ka.service: waiting\n\r\x1b[2Kb.service: waiting\n');
  t.equal(frames[3], '\r\x1b[2KUnit a.service launched on 2a9b3c4d.../10.0.0.2\n\r\x1b[2KUnit b.service launched on 113f16a7.../10.0.0.1\n');

  const pipe = new BufferOutput(false);
  const q = new Progress(pipe, ['a.service', 'b.service'], (n) => `${n}: waiting`);
  q.update('a.service', 'ignored');
  q.finish('b.service', 'Unit b.service launched');
  q.finish('a.service', 'Unit a.service launched');
  t.equal(pipe.stdout, 'Unit b.service launched\nUnit a.service launched\n', 'in the order units got there');

  const narrow = new BufferOutput(true, 20);
  new Progress(narrow, ['a-very-long-unit-name.service'], (n) => `${n}: waiting for launched`);
  t.equal(narrow.stdout, '\r\x1b[2Ka-very-long-unit-n…\n', 'never wraps (wrapping would break the redraw)');
});
