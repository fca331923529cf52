/**
 * fleet.socket as we ship it (units/fleet.socket), on a real lab machine's systemd: fleetd serves the API on the
 * socket systemd passes it, and a client hammering the socket through restarts of fleet.service never sees the
 * socket missing or refusing connections (systemd holds it while fleetd is down).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { apiGet, sleep, startFleetLab, waitFor } from './lab-helpers.js';

const SOCKET_UNIT = readFileSync(fileURLToPath(new URL('../../../units/fleet.socket', import.meta.url)), 'utf8');

t.test('fleet.socket: activation, and the API socket survives fleetd restarts', async (t) => {
  const { lab } = await startFleetLab(t, { machines: 1, agentTtl: '5s', prefix: 'sk' });
  const sh = async (script: string): Promise<string> => {
    const r = await lab.exec('m1', ['sh', '-c', script], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${script}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  await sh(`cat > /etc/systemd/system/fleet.socket <<'EOF_UNIT'\n${SOCKET_UNIT}EOF_UNIT\nsystemctl daemon-reload && systemctl stop fleet.service && systemctl start fleet.socket && systemctl start fleet.service`);
  t.equal((await sh('systemctl is-active fleet.socket')).trim(), 'active', 'fleet.socket listens');
  await waitFor('fleetd serves the API again', async () => ((await apiGet(lab, 'm1', '/fleet/v1/machines')).status === 200 ? true : undefined), 30_000);
  const holders = await sh('ss -xlpn | grep fleet.sock || true');
  const inode = /fleet\.sock\s+(\d+)/.exec(holders)?.[1];
  t.match(holders, /"systemd",pid=1,/, `systemd holds the listening socket: ${holders.trim()}`);
  t.match(holders, /"node",pid=\d+,fd=3\)/, 'fleetd serves it on fd 3, as passed by systemd');

  // a new connection per request, as fleetctl opens one per command: an idle keep-alive connection to the old
  // fleetd can be reset under a client that reuses it at that moment (fleetctl sends such a request again)
  const statuses = new Map<number, number>();
  const errors: string[] = [];
  let stop = false;
  const client = (async () => {
    while (!stop) {
      const { status, error } = await apiGet(lab, 'm1', '/fleet/v1/machines', 20_000);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (error) errors.push(error);
      await sleep(50);
    }
  })();
  for (let i = 0; i < 2; i++) {
    const before = (await sh('systemctl show -p MainPID --value fleet.service')).trim();
    await sh('systemctl restart fleet.service');
    await waitFor(`fleetd restarted (${i + 1})`, async () => {
      const pid = (await sh('systemctl show -p MainPID --value fleet.service')).trim();
      return pid !== before && pid !== '0' && (await apiGet(lab, 'm1', '/fleet/v1/machines')).status === 200 ? true : undefined;
    }, 30_000);
    await sleep(500);
  }
  stop = true;
  await client;
  const seen = Object.fromEntries(statuses);
  t.same(errors, [], `no request failed across two restarts (statuses seen: ${JSON.stringify(seen)})`);
  t.ok((statuses.get(200) ?? 0) > 0, 'requests were answered');
  t.equal((await sh('systemctl is-active fleet.socket')).trim(), 'active', 'the socket stayed up');
  const after = /fleet\.sock\s+(\d+)/.exec(await sh('ss -xlpn | grep fleet.sock || true'))?.[1];
  t.ok(inode !== undefined && after === inode, `the same listening socket throughout (inode ${inode} -> ${after}): restarting fleet.service does not restart fleet.socket`);
});
