/**
 * [X-Fleet] StopOnDisconnect=true on real lab machines: a machine cut off from etcd stops such units before it
 * loses its registration (so before the engine starts them elsewhere), keeps its other units running, and
 * starts the guarded units it still has once it is back.
 */
import t from 'tap';
import { pinTo, serviceText, show, sleep, startFleetLab, submit, waitFor, waitRunning } from './lab-helpers.js';

const GUARD = '\n[X-Fleet]\nStopOnDisconnect=true\n';

t.test('StopOnDisconnect: stopped while the machine is cut off, started again after the heal if still scheduled there', async (t) => {
  const { lab, registry, ids } = await startFleetLab(t, { machines: 2, agentTtl: '5s', prefix: 'sd' });
  const roaming = 'guarded.service';
  await submit(registry, roaming, serviceText('stops when its machine is cut off', ['ExecStart=/bin/sleep 3001'], GUARD));
  const victimId = await waitFor('guarded scheduled', async () => (await registry.getUnit(roaming))?.machineId);
  const victim = Object.entries(ids).find(([, id]) => id === victimId)![0];
  const other = victim === 'm1' ? 'm2' : 'm1';
  const pinned = 'guarded-pinned.service';
  const plain = 'plain.service';
  await submit(registry, pinned, serviceText('pinned and guarded', ['ExecStart=/bin/sleep 3002'], `${pinTo(victimId)}StopOnDisconnect=true\n`));
  await submit(registry, plain, serviceText('pinned, not guarded', ['ExecStart=/bin/sleep 3003'], pinTo(victimId)));
  for (const u of [roaming, pinned, plain]) await waitRunning(lab, victim, u);
  const plainPid = (await show(lab, victim, plain)).MainPID;

  await lab.lab.cut(victim);
  let healed = false;
  t.teardown(async () => {
    if (!healed) await lab.lab.heal(victim);
  });
  const cutAt = Date.now();
  // `other` is read before `victim`: the victim's copy never starts again during the cut, so seeing it active
  // after the other copy was seen active proves both ran at once
  let stoppedAt: number | undefined;
  let overlap = false;
  const movedAt = await waitFor(`${roaming} active on ${other} and stopped on ${victim}`, async () => {
    const there = (await show(lab, other, roaming)).ActiveState === 'active';
    const here = (await show(lab, victim, roaming)).ActiveState;
    if (here === 'inactive') stoppedAt ??= Date.now();
    if (there && here === 'active') overlap = true;
    return there && stoppedAt !== undefined ? Date.now() : undefined;
  }, 30_000);
  t.comment(`FIGURE ${roaming}: stopped on ${victim} ${((stoppedAt! - cutAt) / 1000).toFixed(1)} s after the cut; seen active on ${other} ${((movedAt - cutAt) / 1000).toFixed(1)} s after it`);
  t.notOk(overlap, `never seen active on ${other} while still active on ${victim}`);
  t.equal((await show(lab, victim, pinned)).ActiveState, 'inactive', `${pinned} stopped too (it waits for ${victim} instead of moving)`);
  t.match(await show(lab, victim, plain), { ActiveState: 'active', MainPID: plainPid }, `${plain} (no StopOnDisconnect) keeps running`);
  t.equal((await show(lab, victim, roaming)).LoadState, 'loaded', 'stopped, not removed, while the machine cannot know more');

  await sleep(2000);
  await lab.lab.heal(victim);
  healed = true;
  await waitFor(`${victim} registered again`, async () => ((await registry.getMachine(victimId)) ? true : undefined), 30_000);
  await waitRunning(lab, victim, pinned, 30_000);
  t.pass(`${pinned} started again on ${victim} after the heal`);
  await waitFor(`${roaming} removed from ${victim}`, async () => ((await show(lab, victim, roaming)).LoadState === 'not-found' ? true : undefined), 30_000);
  t.equal((await show(lab, other, roaming)).ActiveState, 'active', `${roaming} runs on ${other} only`);
  t.match(await show(lab, victim, plain), { ActiveState: 'active', MainPID: plainPid }, `${plain} never restarted`);
});
