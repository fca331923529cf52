/** What every command gets: a cluster client, an output sink, local files, a clock. */
import { readFileSync, statSync } from 'node:fs';
import type { ApiMachine, FleetClient } from './client/types.js';
import type { Output } from './output.js';
import type { SshSettings } from './ssh.js';

export interface LocalFiles {
  /** File contents (bytes from disk, so invalid UTF-8 is reported rather than replaced), or undefined when nothing
   * exists at that path. Other read errors throw. */
  read(path: string): string | Uint8Array | undefined;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface CommandContext {
  readonly client: FleetClient;
  readonly out: Output;
  readonly files: LocalFiles;
  readonly clock: Clock;
  /** --ssh-username, --tunnel, --strict-host-key-checking, --known-hosts-file, --ssh-timeout. */
  readonly ssh: SshSettings;
  /** Machines by id, fetched once per invocation (like fleet's cachedMachineState); errors give an empty map. */
  machine(id: string): Promise<ApiMachine | undefined>;
}

export const diskFiles: LocalFiles = {
  read(path: string): Uint8Array | undefined {
    try {
      if (!statSync(path).isFile()) return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    return readFileSync(path);
  },
};

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export const DEFAULT_SSH: SshSettings = {
  user: 'core',
  tunnel: '',
  strictHostKeyChecking: true,
  knownHostsFile: '~/.fleetctl/known_hosts',
  timeout: 10,
};

export function makeContext(
  client: FleetClient,
  out: Output,
  opts: { files?: LocalFiles; clock?: Clock; ssh?: SshSettings } = {},
): CommandContext {
  let cache: Promise<Map<string, ApiMachine>> | undefined;
  return {
    client,
    out,
    files: opts.files ?? diskFiles,
    clock: opts.clock ?? realClock,
    ssh: opts.ssh ?? DEFAULT_SSH,
    machine(id: string) {
      cache ??= client.machines().then(
        (ms) => new Map(ms.map((m) => [m.id, m])),
        () => new Map(),
      );
      return cache.then((m) => m.get(id));
    },
  };
}

/** fleet's machine legend: `<8 chars>...` (full id with --full), then `/<publicIP>` when known. */
export function machineLegend(id: string, machine: ApiMachine | undefined, full: boolean): string {
  const legend = full ? id : `${id.slice(0, 8)}...`;
  return machine?.primaryIP ? `${legend}/${machine.primaryIP}` : legend;
}
