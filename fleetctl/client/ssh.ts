/** `ssh` and remote commands through the system's OpenSSH client, with fleet's flags mapped onto ssh options. */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SshSettings {
  user: string;
  /** --tunnel host[:port] (":22" appended when missing), empty for none. */
  tunnel: string;
  strictHostKeyChecking: boolean;
  knownHostsFile: string;
  /** seconds */
  timeout: number;
  /** the environment ssh runs in: the invocation's (FleetctlIO.env), not necessarily this process's */
  env: NodeJS.ProcessEnv;
}

export const DEFAULT_KNOWN_HOSTS = '~/.fleetctl/known_hosts';

export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** `host` or `host:port` / `[v6]:port` -> [host, port]. */
export function splitHostPort(addr: string, dfltPort: number): [string, number] {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr);
  if (v6) return [v6[1]!, v6[2] ? Number(v6[2]) : dfltPort];
  const colons = addr.split(':').length - 1;
  if (colons === 1) {
    const [h, p] = addr.split(':');
    return [h!, Number(p)];
  }
  return [addr, dfltPort];
}

/**
 * ssh options for user, port, timeout, authentication and host key checking. Keys only (an agent's or the user's),
 * as fleet's client authenticated: no password prompts.
 */
export function baseSshOptions(s: SshSettings, port: number): string[] {
  const args = ['-l', s.user, '-p', String(port), '-o', `ConnectTimeout=${Math.max(1, Math.ceil(s.timeout))}`, '-o', 'PreferredAuthentications=publickey'];
  if (s.strictHostKeyChecking) {
    const file = expandHome(s.knownHostsFile || DEFAULT_KNOWN_HOSTS);
    try {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    } catch {
      // ssh reports an unusable known-hosts file itself
    }
    args.push('-o', 'StrictHostKeyChecking=ask', '-o', `UserKnownHostsFile=${file}`);
  } else {
    args.push('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR');
  }
  return args;
}

/** Arguments of `ssh` (without the program name) connecting to `host` (through --tunnel) and running `command`. */
export function sshArgs(s: SshSettings, host: string, port: number, opts: { forwardAgent?: boolean; command?: string; tty?: boolean }): string[] {
  const args = baseSshOptions(s, port);
  if (s.tunnel) args.push('-o', `ProxyCommand=${proxyCommand(s)}`);
  if (opts.forwardAgent) args.push('-A');
  if (opts.tty) args.push('-t');
  args.push('--', host);
  if (opts.command !== undefined) args.push(opts.command);
  return args;
}

/**
 * The ssh command reaching the bastion (--tunnel) and forwarding to the target (`-W %h:%p`), as a ProxyCommand
 * line. Not `-J`: OpenSSH applies command-line `-o` options to the destination only, so a jump host would be
 * checked against ~/.ssh/known_hosts instead of --known-hosts-file and --strict-host-key-checking, where fleet
 * checked the bastion's key as the target's. ssh runs the line with the user's shell after expanding `%` tokens,
 * so each word is shell-quoted and a literal `%` doubled.
 */
function proxyCommand(s: SshSettings): string {
  const [th, tp] = splitHostPort(s.tunnel, 22);
  const words = [...baseSshOptions(s, tp), '--', th].map((w) => shellQuote(w).replaceAll('%', '%%'));
  return ['ssh', '-W', '%h:%p', ...words].join(' ');
}

/** POSIX shell quoting of one word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** OpenSSH's line for a connection it could not make to the machine. */
const CONNECT_FAILURE = /^ssh: connect to host (\S+) port (\d+): (.+)$/;
/** OpenSSH's reasons, as Go's dialer words them (fleet's client dialled with Go's net package). */
const GO_DIAL_REASONS: Readonly<Record<string, string>> = {
  'Connection refused': 'connect: connection refused',
  'No route to host': 'connect: no route to host',
  'Network is unreachable': 'connect: network is unreachable',
  'Connection timed out': 'i/o timeout',
};

/** OpenSSH's line when no key was accepted. */
const AUTH_FAILURE = /^\S+@\S+: Permission denied \(.*\)\.$/;

/**
 * What fleet's client said (after `Failed building SSH client: `) where OpenSSH printed `line` before giving up
 * with status 255: a connection it could not make, or no key accepted; undefined for any other line.
 */
export function fleetSshFailure(line: string): string | undefined {
  if (AUTH_FAILURE.test(line)) return 'ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain';
  return goDialError(line);
}

/** `dial tcp H:P: <reason>` for OpenSSH's connection failure line, as fleet's client showed it; else undefined. */
export function goDialError(line: string): string | undefined {
  const m = CONNECT_FAILURE.exec(line);
  if (!m) return undefined;
  const host = m[1]!.includes(':') ? `[${m[1]!}]` : m[1]!;
  return `dial tcp ${host}:${m[2]!}: ${GO_DIAL_REASONS[m[3]!] ?? m[3]!.toLowerCase()}`;
}

/**
 * Runs ssh with the terminal attached; resolves with its exit status (-1 when it could not start). Its stderr
 * passes through a filter line by line: OpenSSH's own line for a machine it
 * could not connect to or log in to is held back, and when ssh then ends with its status 255 the result carries
 * it in fleet's words (`failure`, for fleet's `Failed building SSH client: ...` line); any other line is written
 * at once.
 */
export function runAttachedSsh(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  err: (text: string) => void,
): Promise<{ code: number; error?: Error; failure?: string }> {
  return new Promise((resolve) => {
    const child = spawn('ssh', args, { stdio: ['inherit', 'inherit', 'pipe'], env });
    let partial = '';
    let held: string | undefined;
    const line = (l: string): void => {
      if (held === undefined && fleetSshFailure(l.replace(/\r$/, '')) !== undefined) held = l.replace(/\r$/, '');
      else err(`${l}\n`);
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) line(l);
    });
    child.on('error', (error) => resolve({ code: -1, error }));
    child.on('close', (code, signal) => {
      if (partial !== '') err(partial);
      const status = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
      if (held !== undefined && status === 255) {
        resolve({ code: status, failure: fleetSshFailure(held)! });
        return;
      }
      if (held !== undefined) err(`${held}\n`);
      resolve({ code: status });
    });
  });
}

