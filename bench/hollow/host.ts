/**
 * A hollow host: a child process running a HollowFleet, driven over IPC by the benchmark (bench/hollow/remote.ts).
 * It exits when the benchmark goes away (IPC disconnect), so a crashed benchmark leaves no host behind.
 */
import { HollowFleet } from './fleet.js';
import { sampleProcess, type FromHost, type ToHost } from './protocol.js';
import { errorMessage } from '../../lib/errors.js';

let fleet: HollowFleet | undefined;
let stopping: Promise<void> | undefined;

function send(msg: FromHost): void {
  if (process.connected) process.send?.(msg);
}

function stop(): Promise<void> {
  stopping ??= (async () => {
    await fleet?.stop().catch(() => undefined);
  })();
  return stopping;
}

process.on('message', (raw: unknown) => {
  const msg = raw as ToHost;
  switch (msg.type) {
    case 'start': {
      const started = Date.now();
      HollowFleet.start(msg.spec).then(
        (f) => {
          fleet = f;
          for (const s of f.engineServers) {
            s.engine?.on('leading', () => send({ type: 'leading', machineId: s.machineId, at: Date.now() }));
            s.engine?.on('stepped-down', (reason) => send({ type: 'stepped-down', machineId: s.machineId, at: Date.now(), reason }));
          }
          send({ type: 'ready', ms: Date.now() - started, machineIds: f.machineIds() });
        },
        (err: unknown) => send({ type: 'failed', error: errorMessage(err) }),
      );
      return;
    }
    case 'stats':
      if (fleet) send({ type: 'stats', seq: msg.seq, stats: fleet.stats(), sample: sampleProcess() });
      return;
    case 'stop':
      void stop().then(() => {
        send({ type: 'stopped' });
        process.exit(0);
      });
      return;
  }
});

process.on('disconnect', () => {
  const timer = setTimeout(() => process.exit(1), 10_000);
  timer.unref();
  void stop().then(() => process.exit(0));
});
