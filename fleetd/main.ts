#!/usr/bin/env node
/** fleetd: the fleet daemon. `fleetd [--config PATH] [--<option>=VALUE ...]`, `fleetd --version`. */
import { loadConfig } from './config.js';
import { parseArgs } from './args.js';
import { FleetServer } from './server.js';
import { VERSION } from '../lib/version.js';
import { errorMessage } from '../lib/errors.js';
import { logger } from '../lib/log.js';

const log = logger('fleetd');

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fleetd: ${errorMessage(err)}\n`);
    return 2;
  }
  if (args.version) {
    process.stdout.write(`fleetd version ${VERSION}\n`);
    return 0;
  }
  let loaded;
  try {
    loaded = loadConfig(args.sources);
  } catch (err) {
    process.stderr.write(`fleetd: ${errorMessage(err)}\n`);
    return 1;
  }
  for (const w of loaded.warnings) log.warn(w);
  const server = new FleetServer(loaded.config);
  server.on('fatal', (reason) => {
    log.error('fatal; exiting so systemd restarts fleetd', { reason });
    process.exit(1);
  });

  let shuttingDown = false;
  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal, units: loaded.config.shutdownUnits });
    const force = setTimeout(() => process.exit(1), 60_000);
    force.unref();
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('unclean shutdown', { err: errorMessage(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      void server.reload(loadConfig(args.sources).config).catch((err: unknown) => log.error('reload failed', { err: errorMessage(err) }));
    } catch (err) {
      log.error('reload refused: configuration is invalid; keeping the running one', { err: errorMessage(err) });
    }
  });
  process.on('SIGUSR1', () => process.stdout.write(JSON.stringify(server.dump()) + '\n'));

  try {
    await server.start();
  } catch (err) {
    process.stderr.write(`fleetd: ${errorMessage(err)}\n`);
    await server.stop().catch(() => undefined);
    return 1;
  }
  return await new Promise<number>(() => undefined);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fleetd: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
