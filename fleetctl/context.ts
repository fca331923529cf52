/**
 * What every command gets: a cluster client, an output sink, local files, a clock.
 *
 * Local unit files are the invoking user's own: symlinks are followed, but only regular files are read (a FIFO
 * would block, a device could be endless or have side effects on open), and at most MAX_UNIT_FILE_BYTES of them.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { MAX_UNIT_FILE_BYTES } from '../lib/unit/parse.js';
import type { ApiMachine, FleetClient } from './client/types.js';
import { FleetctlError } from './errors.js';
import type { Output } from './output.js';
import type { SshSettings } from './client/ssh.js';
import { errorMessage } from '../lib/errors.js';

/** What is at a local path, as far as reading it as a unit file goes. */
export type LocalFileState = { kind: 'missing' } | { kind: 'file' } | { kind: 'refused'; reason: string };

export interface LocalFiles {
  /** File contents (bytes from disk, so invalid UTF-8 is reported rather than replaced), or undefined when nothing
   * exists at that path. Throws FleetctlError for what is not a regular file or is too large; other read errors throw. */
  read(path: string): string | Uint8Array | undefined;
  /** What read() would do with `path`, without opening it (checks before anything is created). */
  inspect(path: string): LocalFileState;
}

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or sooner once `wake` (e.g. a stream's next change) settles; a test's clock may ignore it. */
  sleep(ms: number, wake?: Promise<unknown>): Promise<void>;
}

/** One fleetctl invocation's arguments, environment and output (entry.ts's runFleetctl, full.ts's runFull). */
export interface FleetctlIO {
  /** Arguments after the program name. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly out: Output;
  /** Where unit files are read (default: the process's working directory). */
  readonly files?: LocalFiles;
  readonly clock?: Clock;
}

export interface CommandContext {
  readonly client: FleetClient;
  readonly out: Output;
  readonly files: LocalFiles;
  readonly clock: Clock;
  /** --ssh-username, --tunnel, --strict-host-key-checking, --known-hosts-file, --ssh-timeout. */
  readonly ssh: SshSettings;
  /** --debug / FLEETCTL_DEBUG: fleet's debug lines are printed (golog.ts). */
  readonly debug?: boolean;
  /** Machines by id, fetched once per invocation (like fleet's cachedMachineState); errors give an empty map. */
  machine(id: string): Promise<ApiMachine | undefined>;
}

function describeKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why `st` cannot be read as a unit file, or undefined when it can. */
function refusal(path: string, st: Stats): string | undefined {
  if (!st.isFile()) return `${path} is ${describeKind(st)}, not a unit file`;
  if (st.size > MAX_UNIT_FILE_BYTES) return `${path}: unit file is ${st.size} bytes, more than the limit of ${MAX_UNIT_FILE_BYTES} bytes (1 MiB)`;
  return undefined;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The local files of a user working in `dir` (relative paths resolve against it; messages name the path as given).
 * fleetctl reads from the process's working directory (diskFiles); tests that run fleetctl inside their own
 * process give each run a directory of its own, as a child's cwd would.
 */
export function filesIn(dir: string): LocalFiles {
  const at = (path: string): string => (dir === '' ? path : resolve(dir, path));
  const files: LocalFiles = {
    inspect(path: string): LocalFileState {
      let st: Stats;
      try {
        st = statSync(at(path));
      } catch (err) {
        if (isMissing(err)) return { kind: 'missing' };
        return { kind: 'refused', reason: `cannot read ${path}: ${errorMessage(err)}` };
      }
      const reason = refusal(path, st);
      return reason === undefined ? { kind: 'file' } : { kind: 'refused', reason };
    },
    read(path: string): Uint8Array | undefined {
      const before = files.inspect(path);
      if (before.kind === 'missing') return undefined;
      if (before.kind === 'refused') throw new FleetctlError(before.reason);
      // O_NONBLOCK: if the path was swapped for a FIFO since, opening it does not wait for a writer
      const fd = openSync(at(path), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      try {
        const st = fstatSync(fd);
        const reason = refusal(path, st);
        if (reason !== undefined) throw new FleetctlError(reason);
        // at most one byte more than the limit: a file that grew since fstat is still caught by the parser's bound.
        // The buffer starts at the file's size (zeroing 1 MiB per unit file cost `start` of 60 units a third of a
        // second) and grows only for a file that grew since.
        const limit = MAX_UNIT_FILE_BYTES + 1;
        let buf = Buffer.alloc(Math.min(st.size + 1, limit));
        let got = 0;
        for (;;) {
          const n = readSync(fd, buf, got, buf.length - got, null);
          if (n === 0) break;
          got += n;
          if (got === buf.length) {
            if (buf.length === limit) break;
            const bigger = Buffer.alloc(Math.min(buf.length * 2, limit));
            buf.copy(bigger, 0, 0, got);
            buf = bigger;
          }
        }
        return buf.subarray(0, got);
      } finally {
        closeSync(fd);
      }
    },
  };
  return files;
}

/** The files of the process's working directory. */
export const diskFiles: LocalFiles = filesIn('');

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, wake) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), ...(wake ? [wake] : [])]);
    clearTimeout(timer);
  },
};

export const DEFAULT_SSH: SshSettings = {
  user: 'core',
  tunnel: '',
  strictHostKeyChecking: true,
  knownHostsFile: '~/.fleetctl/known_hosts',
  timeout: 10,
  env: process.env,
};

export function makeContext(
  client: FleetClient,
  out: Output,
  opts: { files?: LocalFiles; clock?: Clock; ssh?: SshSettings; debug?: boolean } = {},
): CommandContext {
  let cache: Promise<Map<string, ApiMachine>> | undefined;
  return {
    client,
    out,
    files: opts.files ?? diskFiles,
    clock: opts.clock ?? realClock,
    ssh: opts.ssh ?? DEFAULT_SSH,
    debug: opts.debug === true,
    machine(id: string) {
      cache ??= client.machines().then(
        (ms) => new Map(ms.map((m) => [m.id, m])),
        () => new Map(),
      );
      return cache.then((m) => m.get(id));
    },
  };
}

/** A machine id as fleetctl shows it without --full: its first 8 characters and `...`. */
export function shortMachineId(id: string): string {
  return `${id.slice(0, 8)}...`;
}

/** fleet's machine legend: the short machine id (full id with --full), then `/<publicIP>` when known. */
export function machineLegend(id: string, machine: ApiMachine | undefined, full: boolean): string {
  const legend = full ? id : shortMachineId(id);
  return machine?.primaryIP ? `${legend}/${machine.primaryIP}` : legend;
}
