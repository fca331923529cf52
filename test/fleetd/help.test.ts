/**
 * `fleetd -h` / `--help`: usage on stdout and exit 0 (fleet's fleetd printed its flags and exited 0; ours said
 * "unknown flag", exit 2), listing every option of lib/fleet-options.ts with its default.
 */
import t from 'tap';
import { readStartup } from '../../fleetd/args.js';
import { FLEET_OPTION_TABLE } from '../../lib/fleet-options.js';

for (const argv of [['-h'], ['--help'], ['-help'], ['--config=/nonexistent', '--help'], ['--no-such-flag', '-h']]) {
  t.test(`fleetd ${argv.join(' ')}`, async (t) => {
    const start = readStartup(argv, {});
    t.ok('exit' in start);
    if (!('exit' in start)) return;
    t.equal(start.exit, 0);
    t.equal(start.stderr, '');
    t.match(start.stdout, /^fleetd runs one machine/);
    t.match(start.stdout, /\n  fleetd -h \| --help\n/);
    for (const o of FLEET_OPTION_TABLE) t.match(start.stdout, new RegExp(`\\n  --${o.name.replace(/_/g, '-')}=`), o.name);
    t.match(start.stdout, /\n  --etcd-servers=URL\[,URL\.\.\.\] +default http:\/\/127\.0\.0\.1:2379,http:\/\/127\.0\.0\.1:4001\n/);
    t.match(start.stdout, /\n  --shutdown-units=stop\|keep +default stop; not in fleet v1\n/);
    t.match(start.stdout, /\n  --agent-ttl=DURATION +default 30s\n/);
    t.match(start.stdout, /\n  --verify-units=true\|false +accepted and ignored: deprecated\n/);
  });
}

t.test('other flags are still refused', async (t) => {
  const start = readStartup(['--hel=1'], {});
  t.match(start, { exit: 2, stderr: /^fleetd: unknown flag --hel;/ });
});
