/**
 * Ends a test file's process once its tests are done, even when a client library left a handle open. etcd3's
 * gRPC channels can outlive `close()` after a member was frozen or killed under load; the file's verdict is
 * already printed then, but the open handle keeps the process alive until the runner's per-file timeout (15
 * min) fails it. A root-level teardown (which also lets tap end the root test once it is idle) arms an unref'd
 * timer: a process that exits normally never sees it fire; one held open names what held it and exits with the
 * verdict tap set. Only for files whose tests start real servers (the cluster tests); not for the product code,
 * whose fleetd exits explicitly (fleetd/main.ts).
 */
import t from 'tap';

const GRACE_MS = 10_000;
let armed = false;

export function exitWhenDone(): void {
  if (armed) return;
  armed = true;
  t.teardown(() => {
    setTimeout(() => {
      process.stderr.write(`# tests done, but ${JSON.stringify(process.getActiveResourcesInfo())} held the process open: exiting\n`);
      process.exit();
    }, GRACE_MS).unref();
  });
}
