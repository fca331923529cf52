/**
 * coreos-cloudinit: read a document (--from-file PATH, `-` for stdin, or a data source: --from-url,
 * --from-configdrive, --from-ec2-metadata, ... see datasource/), validate it completely, then plan and
 * apply it to --root (default /), with the source's metadata (addresses, hostname, SSH keys). Exit status:
 * 0 done (warnings allowed), 1 invalid or unreadable document or no source available (nothing changed),
 * 2 bad usage, 3 applying failed (see the step reported as failed).
 */
import { open } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import yargs from 'yargs';
import { applyPlan, type StepResult } from './apply.js';
import { formatDiagnosticLine, hasErrors, type Diagnostic } from './diagnostics.js';
import { decodeUtf8 } from './encoding.js';
import { ApplyError, DocumentTooLargeError, InvalidDocumentError } from './errors.js';
import { UsageError, errorMessage } from '../lib/errors.js';
import { MAX_DOCUMENT_BYTES } from './limits.js';
import { parseUserData } from './parse.js';
import { DEFAULT_SSH_KEY_NAME, describeStep, planCloudConfig, planScript, type Plan } from './plan.js';
import { SUBSTITUTION_VARIABLES, substitutionsFromEnv } from './substitute.js';
import type { CloudConfig, Substitutions } from './types.js';
import { connectSystemdApplier, type SystemdApplier } from './systemd-applier.js';
import { VERSION } from '../lib/version.js';
import {
  buildDatasources,
  DEFAULT_HTTP,
  DEFAULT_SELECT,
  emptyConfig,
  fetchFromDatasources,
  inflateUserdata,
  mergeMetadata,
  OEM_PRESETS,
  EMPTY_METADATA,
  type Datasource,
  type HttpOptions,
  type Metadata,
  type SelectOptions,
  type SourceFlags,
} from './datasource/index.js';
import { directoryPathProblem } from './schema.js';

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;
export const EXIT_APPLY_FAILED = 3;

export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Replaces the D-Bus connection to systemd (tests against a lab machine pass its bus this way too). */
  readonly connectUnits?: (busAddress: string | undefined) => Promise<SystemdApplier>;
  /** Replaces the data sources' timing (tests: short backoff and timeouts). */
  readonly datasourceTiming?: { readonly http?: HttpOptions; readonly select?: SelectOptions };
}

/** The flags naming a data source, as coreos-cloudinit's, and the SourceFlags field each sets. */
const SOURCE_OPTIONS = {
  'from-url': 'url',
  'from-configdrive': 'configdrive',
  'from-ec2-metadata': 'ec2Metadata',
  'from-gce-metadata': 'gceMetadata',
  'from-digitalocean-metadata': 'digitaloceanMetadata',
  'from-packet-metadata': 'packetMetadata',
  'from-waagent': 'waagent',
} as const satisfies Record<string, Exclude<keyof SourceFlags, 'procCmdline'>>;

const DEFAULT_WORKSPACE = '/var/lib/coreos-cloudinit';

const LONG_OPTIONS = [
  'from-file',
  'validate',
  'dry-run',
  'root',
  'private-ipv4',
  'public-ipv4',
  'private-ipv6',
  'public-ipv6',
  'ssh-key-name',
  'systemd',
  'no-systemd',
  'bus',
  ...Object.keys(SOURCE_OPTIONS),
  'from-proc-cmdline',
  'proc-cmdline-file',
  'oem',
  'ignore-failure',
  'workspace',
  'version',
  'help',
];

/** coreos-cloudinit's Go flags are written with one dash (`-from-file x`); accept that spelling too. */
export function normalizeArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(a);
    const arg = m && LONG_OPTIONS.includes(m[1]!) ? `-${a}` : a;
    // yargs reads a lone "-" as a positional argument: glue it to the option before it
    if (arg === '-' && out.length > 0 && /^--[a-z][a-z0-9-]*$/.test(out[out.length - 1]!)) out.push(`${out.pop()!}=-`);
    else out.push(arg);
  }
  return out;
}

interface Options {
  fromFile?: string;
  validate: boolean;
  dryRun: boolean;
  root: string;
  sshKeyName: string;
  systemd?: boolean;
  bus?: string;
  substitutions: Substitutions;
  /** the substitution values given as flags (they win over metadata, which wins over COREOS_* variables) */
  flagSubstitutions: Substitutions;
  sources: SourceFlags;
  procCmdlinePath?: string;
  ignoreFailure: boolean;
  workspace: string;
}

/** What the command line asks for, or the exit status when it is already answered (usage error, --help, --version). */
type CommandLine = { readonly options: Options } | { readonly exit: number };

async function parseOptions(argv: readonly string[], io: CliIO): Promise<CommandLine> {
  let usageError: string | undefined;
  let printed = false;
  const parser = yargs()
    .scriptName('coreos-cloudinit')
    .usage('$0 --from-file PATH|- [options]\n\nValidate a #cloud-config document (or #! script) and apply it.')
    .option('from-file', { type: 'string', describe: 'read user-data from PATH (- for stdin)' })
    .option('validate', { type: 'boolean', default: false, describe: 'only validate; change nothing' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'validate and print the plan; change nothing' })
    .option('root', { type: 'string', default: '/', describe: 'apply files under this directory instead of /' })
    .option('private-ipv4', { type: 'string', describe: 'value of $private_ipv4 (else COREOS_PRIVATE_IPV4)' })
    .option('public-ipv4', { type: 'string', describe: 'value of $public_ipv4 (else COREOS_PUBLIC_IPV4)' })
    .option('private-ipv6', { type: 'string', describe: 'value of $private_ipv6 (else COREOS_PRIVATE_IPV6)' })
    .option('public-ipv6', { type: 'string', describe: 'value of $public_ipv6 (else COREOS_PUBLIC_IPV6)' })
    .option('ssh-key-name', { type: 'string', default: DEFAULT_SSH_KEY_NAME, describe: 'file name under ~/.ssh/authorized_keys.d/' })
    .option('systemd', {
      type: 'boolean',
      describe: 'talk to systemd (enable, daemon-reload, commands); default: yes when --root is / or --bus is given',
    })
    .option('bus', { type: 'string', describe: 'D-Bus address of the system bus (default: the local system bus)' })
    .option('from-url', { type: 'string', describe: 'read user-data from this http(s) URL' })
    .option('from-configdrive', { type: 'string', describe: 'read user-data and metadata from a mounted config drive (OpenStack or EC2 layout)' })
    .option('from-ec2-metadata', { type: 'string', describe: 'EC2 metadata service URL (e.g. http://169.254.169.254/)' })
    .option('from-gce-metadata', { type: 'string', describe: 'GCE metadata server URL (e.g. http://metadata.google.internal/)' })
    .option('from-digitalocean-metadata', { type: 'string', describe: 'DigitalOcean metadata service URL (e.g. http://169.254.169.254/)' })
    .option('from-packet-metadata', { type: 'string', describe: 'Packet metadata service URL (e.g. https://metadata.packet.net/)' })
    .option('from-proc-cmdline', { type: 'boolean', default: false, describe: 'read user-data from the URL given as cloud-config-url= on the kernel command line' })
    .option('proc-cmdline-file', { type: 'string', hidden: true, describe: 'read this file instead of the kernel command line (tests)' })
    .option('from-waagent', { type: 'string', describe: "read user-data and metadata from Azure's waagent directory (e.g. /var/lib/waagent)" })
    .option('oem', { type: 'string', describe: `set the sources of a platform: ${Object.keys(OEM_PRESETS).join(', ')}` })
    .option('ignore-failure', { type: 'boolean', default: false, describe: 'exit 0 when the user-data cannot be had or is invalid (metadata is still applied)' })
    .option('workspace', { type: 'string', default: DEFAULT_WORKSPACE, describe: 'directory (under --root) for stored scripts' })
    .version(VERSION)
    .help()
    .strict()
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      usageError = msg ?? err?.message ?? 'bad usage';
    });
  let args: Record<string, unknown>;
  try {
    const out: string[] = [];
    args = (await parser.parseAsync(normalizeArgs(argv), {}, (_err: unknown, _argv: unknown, output: string) => {
      if (output) out.push(output);
    })) as Record<string, unknown>;
    if (out.length > 0) {
      printed = true;
      io.stdout(out.join('\n') + '\n');
    }
  } catch (err) {
    usageError ??= errorMessage(err);
    args = {};
  }
  if (usageError) {
    io.stderr(`coreos-cloudinit: ${usageError}\nRun "coreos-cloudinit --help" for usage.\n`);
    return { exit: EXIT_USAGE };
  }
  if (printed || args.help || args.version) return { exit: EXIT_OK };

  const fromEnv = substitutionsFromEnv(io.env);
  const subs: { -readonly [K in keyof Substitutions]: string } = {};
  const flagSubs: { -readonly [K in keyof Substitutions]: string } = {};
  for (const [name, spec] of Object.entries(SUBSTITUTION_VARIABLES)) {
    const flagValue = args[spec.flag.slice(2)];
    const value = typeof flagValue === 'string' ? flagValue : fromEnv[spec.option];
    if (value === undefined || value === '') continue;
    const v6 = name.endsWith('ipv6');
    if (!(v6 ? isIPv6(value) : isIPv4(value))) {
      const from = typeof flagValue === 'string' ? spec.flag : spec.env;
      io.stderr(`coreos-cloudinit: ${from}: ${JSON.stringify(value)} is not an ${v6 ? 'IPv6' : 'IPv4'} address\n`);
      return { exit: EXIT_USAGE };
    }
    subs[spec.option] = value;
    if (typeof flagValue === 'string') flagSubs[spec.option] = value;
  }
  const sources: { -readonly [K in keyof SourceFlags]: SourceFlags[K] } = {};
  for (const [flag, key] of Object.entries(SOURCE_OPTIONS)) {
    const v = args[flag];
    if (typeof v === 'string' && v !== '') sources[key] = v;
  }
  if (args['from-proc-cmdline'] === true) sources.procCmdline = true;
  if (typeof args.oem === 'string' && args.oem !== '') {
    const preset = Object.hasOwn(OEM_PRESETS, args.oem) ? OEM_PRESETS[args.oem] : undefined;
    if (preset === undefined) {
      io.stderr(`coreos-cloudinit: --oem: ${JSON.stringify(args.oem)} is not one of ${Object.keys(OEM_PRESETS).join(', ')}\n`);
      return { exit: EXIT_USAGE };
    }
    Object.assign(sources, preset);
  }
  const workspace = String(args.workspace ?? DEFAULT_WORKSPACE);
  const workspaceProblem = directoryPathProblem(workspace);
  if (workspaceProblem !== undefined) {
    io.stderr(`coreos-cloudinit: --workspace: ${workspaceProblem}\n`);
    return { exit: EXIT_USAGE };
  }
  return { options: {
    ...(typeof args['from-file'] === 'string' ? { fromFile: args['from-file'] } : {}),
    validate: args.validate === true,
    dryRun: args['dry-run'] === true,
    root: resolve(String(args.root ?? '/')),
    sshKeyName: String(args['ssh-key-name'] ?? DEFAULT_SSH_KEY_NAME),
    ...(typeof args.systemd === 'boolean' ? { systemd: args.systemd } : {}),
    ...(typeof args.bus === 'string' ? { bus: args.bus } : {}),
    substitutions: subs,
    flagSubstitutions: flagSubs,
    sources,
    ...(typeof args['proc-cmdline-file'] === 'string' ? { procCmdlinePath: args['proc-cmdline-file'] } : {}),
    ignoreFailure: args['ignore-failure'] === true,
    workspace: workspace.replace(/(.)\/+$/, '$1'),
  } };
}

function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.position?.line ?? Infinity) - (b.position?.line ?? Infinity));
}

function report(io: CliIO, ds: readonly Diagnostic[]): void {
  for (const d of sortDiagnostics(ds)) io.stderr(formatDiagnosticLine(d) + '\n');
}

function summary(ds: readonly Diagnostic[]): string {
  const e = ds.filter((d) => d.severity === 'error').length;
  const w = ds.length - e;
  return `${e} error${e === 1 ? '' : 's'}, ${w} warning${w === 1 ? '' : 's'}`;
}

const NEEDS_SYSTEMD = new Set(['enable', 'daemon-reload', 'restart-networkd', 'unit-command', 'script']);

/** The document file, read up to MAX_DOCUMENT_BYTES (+1 to tell that it is larger; never more). */
async function readDocument(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(MAX_DOCUMENT_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_DOCUMENT_BYTES) throw new DocumentTooLargeError();
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/**
 * A document from a stream (stdin), refused (without reading the rest) once it passes MAX_DOCUMENT_BYTES; gzip
 * user-data is inflated (bounded) as from a file or a data source.
 */
export async function readDocumentStream(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > MAX_DOCUMENT_BYTES) {
      stream.destroy();
      throw new DocumentTooLargeError();
    }
    chunks.push(buf);
  }
  return decodeUtf8(inflateUserdata(Buffer.concat(chunks)));
}

function formatResult(r: StepResult): string {
  return `${r.outcome}: ${describeStep(r.step)}${r.detail ? ` [${r.detail}]` : ''}\n`;
}

/** `$private_ipv4` & co. from a source's metadata. */
function metadataSubstitutions(md: Metadata): Substitutions {
  return {
    ...(md.privateIpv4 !== undefined ? { privateIpv4: md.privateIpv4 } : {}),
    ...(md.publicIpv4 !== undefined ? { publicIpv4: md.publicIpv4 } : {}),
    ...(md.privateIpv6 !== undefined ? { privateIpv6: md.privateIpv6 } : {}),
    ...(md.publicIpv6 !== undefined ? { publicIpv6: md.publicIpv6 } : {}),
  };
}

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const commandLine = await parseOptions(argv, io);
  if ('exit' in commandLine) return commandLine.exit;
  const opts = commandLine.options;
  const warn = (message: string): void => io.stderr(`warning: ${message}\n`);
  let sources: Datasource[];
  try {
    sources = buildDatasources(
      opts.sources,
      { http: io.datasourceTiming?.http ?? DEFAULT_HTTP, warn, onRetry: (m) => io.stderr(`retry: ${m}\n`) },
      opts.procCmdlinePath !== undefined ? { procCmdlinePath: opts.procCmdlinePath } : {},
    );
  } catch (err) {
    io.stderr(`coreos-cloudinit: ${errorMessage(err)}\n`);
    return EXIT_USAGE;
  }
  if (opts.fromFile === undefined && sources.length === 0) {
    io.stderr(
      `coreos-cloudinit: no user-data given: use --from-file PATH (or --from-file - for stdin) or a data source (${Object.keys(SOURCE_OPTIONS)
        .map((f) => `--${f}`)
        .join(', ')}, --from-proc-cmdline, --oem)\n`,
    );
    return EXIT_USAGE;
  }

  if (opts.fromFile !== undefined && sources.length > 0) {
    warn(`--from-file is given, so ${sources.map((d) => `${d.type} (${d.location})`).join(', ')} is not asked`);
  }

  // User-data that cannot be had or is invalid: nothing is changed (exit 1), unless --ignore-failure, which
  // applies the metadata alone and exits 0 (--validate still exits 1).
  const userdataFailed = (): boolean => !opts.ignoreFailure || opts.validate;
  let text = '';
  let metadata: Metadata = EMPTY_METADATA;
  const fromSource = opts.fromFile === undefined;
  let failed = false;
  if (opts.fromFile !== undefined) {
    try {
      text = opts.fromFile === '-' ? await io.readStdin() : decodeUtf8(inflateUserdata(await readDocument(opts.fromFile)));
      if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) throw new DocumentTooLargeError();
    } catch (err) {
      const reason = errorMessage(err);
      io.stderr(`error: cannot read ${opts.fromFile === '-' ? 'stdin' : opts.fromFile}: ${reason}\n`);
      if (userdataFailed()) return EXIT_INVALID;
      io.stderr('the user-data is ignored (--ignore-failure)\n');
      text = '';
      failed = true;
    }
  } else {
    try {
      const got = await fetchFromDatasources(sources, io.datasourceTiming?.select ?? DEFAULT_SELECT);
      io.stderr(`using data source ${got.source.type} (${got.source.location})\n`);
      metadata = got.metadata;
      text = got.text;
      if (got.error !== undefined) {
        io.stderr(`error: cannot read user-data: ${got.error}\n`);
        if (userdataFailed()) {
          io.stderr('nothing was changed\n');
          return EXIT_INVALID;
        }
        io.stderr('the user-data is ignored (--ignore-failure)\n');
        failed = true;
      }
    } catch (err) {
      io.stderr(`error: ${errorMessage(err)}\n(nothing was changed)\n`);
      return EXIT_INVALID;
    }
  }
  const substitutions: Substitutions = { ...opts.substitutions, ...metadataSubstitutions(metadata), ...opts.flagSubstitutions };

  // a source may have no user-data (only metadata); an empty --from-file document stays an error
  let parsed: ReturnType<typeof parseUserData> | undefined;
  if (!failed && (!fromSource || text.trim() !== '')) {
    parsed = parseUserData(text, { substitutions });
    report(io, parsed.diagnostics);
    if (hasErrors(parsed.diagnostics) || parsed.kind === 'unrecognized') {
      if (userdataFailed()) {
        io.stderr(`${summary(parsed.diagnostics)}; nothing was changed\n`);
        return EXIT_INVALID;
      }
      io.stderr(`${summary(parsed.diagnostics)}; the user-data is ignored (--ignore-failure)\n`);
      parsed = undefined;
    }
  }
  if (opts.validate) {
    io.stdout(parsed ? `valid ${parsed.kind} (${summary(parsed.diagnostics)})\n` : 'no user-data\n');
    return EXIT_OK;
  }

  const planOptions = { substitutions, sshKeyName: opts.sshKeyName };
  const withMetadata = (config: CloudConfig): CloudConfig => mergeMetadata(config, metadata, warn);
  let plan: Plan;
  if (parsed?.kind === 'script') {
    const script = planScript(parsed.script, `${opts.workspace}/scripts`);
    plan = fromSource ? { steps: [...planCloudConfig(withMetadata(emptyConfig()), planOptions).steps, ...script.steps] } : script;
  } else {
    plan = planCloudConfig(withMetadata((parsed?.kind === 'cloud-config' ? parsed.config : undefined) ?? emptyConfig()), planOptions);
  }
  if (opts.dryRun) {
    for (const step of plan.steps) io.stdout(`would ${describeStep(step)}\n`);
    return EXIT_OK;
  }

  const useSystemd = opts.systemd ?? (opts.root === '/' || opts.bus !== undefined);
  let units: SystemdApplier | undefined;
  if (useSystemd && plan.steps.some((s) => NEEDS_SYSTEMD.has(s.kind))) {
    try {
      units = await (io.connectUnits ?? connectSystemdApplier)(opts.bus);
    } catch (err) {
      const reason = errorMessage(err);
      io.stderr(`error: cannot reach systemd: ${reason}\n(nothing was changed; --no-systemd applies only the files)\n`);
      return EXIT_APPLY_FAILED;
    }
  }

  const counts = { changed: 0, unchanged: 0, ran: 0, skipped: 0, failed: 0 };
  try {
    const result = await applyPlan(plan, {
      root: opts.root,
      ...(units ? { units } : {}),
      ...(opts.bus ? { busAddress: opts.bus } : {}),
      onResult: (r) => {
        counts[r.outcome]++;
        io.stdout(formatResult(r));
      },
    });
    io.stdout(`${counts.changed} changed, ${counts.unchanged} unchanged, ${counts.ran} ran, ${counts.skipped} skipped, ${counts.failed} failed\n`);
    if (result.error) {
      io.stderr(`error: ${result.error.message}\n`);
      return EXIT_APPLY_FAILED;
    }
    return EXIT_OK;
  } catch (err) {
    if (err instanceof InvalidDocumentError) {
      report(io, err.diagnostics);
      io.stderr(`${summary(err.diagnostics)}; nothing was changed\n`);
      return EXIT_INVALID;
    }
    if (err instanceof ApplyError || err instanceof UsageError) {
      io.stderr(`error: ${err.message}\n`);
      return EXIT_APPLY_FAILED;
    }
    throw err;
  } finally {
    await units?.close();
  }
}
