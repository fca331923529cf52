/**
 * [X-Fleet] Reschedule=on-failure (ours) on real lab machines: a unit that fails on its machine (it fails only
 * where a marker file exists) runs on another machine after its delay; the same unit without the option stays
 * failed where it was. The measured time-to-move goes to docs/reliability.md.
 */
import t from 'tap';
import { serviceText, show, sleep, startFleetLab, submit, waitFor, waitRunning } from './lab-helpers.js';

/** The unit fails (exits 1 at once) on a machine where its marker file exists, and runs elsewhere. */
const failsAtMarker = (marker: string): string[] => [`ExecStart=/bin/sh -c 'test ! -e ${marker} && exec sleep 3010'`];
const DELAY_S = 2;

t.test('Reschedule=on-failure: the failed unit runs on another machine within its delay; without it the unit stays failed', async (t) => {
  const { lab, registry, names } = await startFleetLab(t, { machines: 2, prefix: 'rs' });
  const flaky = 'flaky.service';
  const plain = 'plain.service';
  await submit(registry, flaky, serviceText('moves when it fails', failsAtMarker('/run/fail-flaky'), `\n[X-Fleet]\nReschedule=on-failure\nRescheduleDelaySec=${DELAY_S}\n`), 'loaded');
  await submit(registry, plain, serviceText('stays when it fails', failsAtMarker('/run/fail-plain')), 'loaded');
  const placed = async (u: string): Promise<string> => waitFor(`${u} scheduled`, async () => (await registry.getUnit(u))?.machineId);
  const flakyFrom = names[await placed(flaky)]!;
  const plainAt = names[await placed(plain)]!;
  for (const [m, marker] of [[flakyFrom, '/run/fail-flaky'], [plainAt, '/run/fail-plain']] as const) {
    const r = await lab.exec(m, ['touch', marker]);
    t.equal(r.code, 0, `${marker} on ${m}`);
  }
  await registry.setDesiredState(flaky, 'launched');
  await registry.setDesiredState(plain, 'launched');

  const failed = async (m: string, u: string): Promise<number> =>
    waitFor(`${u} failed on ${m}`, async () => ((await show(lab, m, u)).ActiveState === 'failed' ? Date.now() : undefined), 30_000);
  const [flakyFailedAt] = await Promise.all([failed(flakyFrom, flaky), failed(plainAt, plain)]);
  const flakyTo = flakyFrom === 'm1' ? 'm2' : 'm1';
  await waitRunning(lab, flakyTo, flaky, 30_000);
  const movedMs = Date.now() - flakyFailedAt;
  t.comment(`FIGURE ${flaky}: failed on ${flakyFrom}, running on ${flakyTo} ${(movedMs / 1000).toFixed(1)} s later (RescheduleDelaySec=${DELAY_S})`);
  t.ok(movedMs >= DELAY_S * 1000 - 500, `it waited its delay (${movedMs} ms)`);
  t.equal(names[(await registry.getUnit(flaky))!.machineId!], flakyTo, `${flaky} is scheduled on ${flakyTo}`);
  await waitFor(`${flaky} removed from ${flakyFrom}`, async () => ((await show(lab, flakyFrom, flaky)).LoadState === 'not-found' ? true : undefined));
  const states = await registry.listUnitStates({ unitName: flaky });
  t.match(states, [{ activeState: 'active', reschedule: { gaveUp: false, reason: /failed before on/ } }], 'list-units says why it moved');

  await sleep(DELAY_S * 1000 * 2 + 2000);
  t.equal(names[(await registry.getUnit(plain))!.machineId!], plainAt, `${plain} (no Reschedule) stays on ${plainAt}`);
  t.equal((await show(lab, plainAt, plain)).ActiveState, 'failed', 'failed, as systemd left it');
  t.notOk((await registry.listUnitStates({ unitName: plain })).some((s) => s.reschedule), 'no reschedule status');
});
