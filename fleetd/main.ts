#!/usr/bin/env node
/** fleetd: the fleet daemon. `fleetd [--config PATH] [--<option>=VALUE ...]`, `fleetd --version`. */
import { loadConfig } from './config.js';
import { readStartup } from './args.js';
import { errorMessage } from '../lib/errors.js';
import { logger } from '../lib/log.js';

const log = logger('fleetd');

async function main(): Promise<number> {
  const start = readStartup(process.argv.slice(2), process.env);
  if ('exit' in start) {
    process.stdout.write(start.stdout);
    process.stderr.write(start.stderr);
    return start.exit;
  }
  const { loaded, sources } = start;
  for (const w of loaded.warnings) log.warn(w);

  // Signals are ours before the daemon's modules load (seconds on a busy machine): a stop that comes
  // meanwhile is still a clean stop that applies shutdown_units.
  let requested: string | undefined;
  let onStop = (signal: string): void => {
    requested ??= signal;
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => log.warn('SIGHUP ignored: fleetd is still starting'));

  const { FleetServer } = await import('./server.js');
  const server = new FleetServer(loaded.config);
  server.on('fatal', (reason) => {
    log.error('fatal; exiting so systemd restarts fleetd', { reason });
    process.exit(1);
  });
  const stopped = new Promise<number>((resolve) => {
    onStop = (signal) => {
      if (server.isStopping) return;
      log.info('shutting down', { signal, units: loaded.config.shutdownUnits });
      setTimeout(() => process.exit(1), 60_000).unref();
      server.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('unclean shutdown', { err: errorMessage(err) });
          resolve(1);
        },
      );
    };
  });
  process.removeAllListeners('SIGHUP');
  process.on('SIGHUP', () => {
    try {
      void server.reload(loadConfig(sources).config).catch((err: unknown) => log.error('reload failed', { err: errorMessage(err) }));
    } catch (err) {
      log.error('reload refused: configuration is invalid; keeping the running one', { err: errorMessage(err) });
    }
  });
  process.on('SIGUSR1', () => process.stdout.write(JSON.stringify(server.dump()) + '\n'));

  if (requested !== undefined) {
    onStop(requested);
    return stopped;
  }
  try {
    await server.start();
  } catch (err) {
    if (server.isStopping) return stopped;
    process.stderr.write(`fleetd: ${errorMessage(err)}\n`);
    await server.stop({ keepUnits: true }).catch(() => undefined);
    return 1;
  }
  return stopped;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fleetd: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
