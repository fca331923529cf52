import type { CommandSpec } from './command.js';
import { cat } from './commands/cat.js';
import { destroy } from './commands/destroy.js';
import { fdForward } from './commands/fd-forward.js';
import { importCommand } from './commands/import.js';
import { journal } from './commands/journal.js';
import { listMachines } from './commands/list-machines.js';
import { listUnitFiles } from './commands/list-unit-files.js';
import { listUnits } from './commands/list-units.js';
import { load } from './commands/load.js';
import { planCommand } from './commands/plan.js';
import { restart } from './commands/restart.js';
import { rolloutCommand } from './commands/rollout.js';
import { ssh } from './commands/ssh.js';
import { start } from './commands/start.js';
import { status } from './commands/status.js';
import { stop } from './commands/stop.js';
import { submit } from './commands/submit.js';
import { unload } from './commands/unload.js';
import { verify } from './commands/verify.js';
import { version } from './commands/version.js';

/** Every subcommand, in the order `fleetctl help` lists them (cobra sorts by name). */
export const COMMANDS: readonly CommandSpec[] = [
  cat,
  destroy,
  fdForward,
  importCommand,
  journal,
  listMachines,
  listUnitFiles,
  listUnits,
  load,
  planCommand,
  restart,
  rolloutCommand,
  ssh,
  start,
  status,
  stop,
  submit,
  unload,
  verify,
  version,
];
