/**
 * parseUserData: text in, typed config (or script) plus every diagnostic out. Pure: no I/O.
 * A `#cloud-config` document is YAML 1.2 (so `y`, `on`, `e1` stay text), except that boolean options also take
 * YAML 1.1's yes/no/on/off as coreos-cloudinit's go-yaml did; a `#!` document is a script.
 */
import { LineCounter, parseDocument, YAMLError, type Alias, type Document } from 'yaml';
import { FLEET_OPTION_TABLE } from '../lib/fleet-options.js';
import { DiagnosticSink, hasErrors, type Diagnostic, type Position } from './diagnostics.js';
import { ContentTooLargeError, decodeContent, DecodeError } from './encoding.js';
import { MAX_FILE_NAME, MAX_DECODED_FILE_BYTES, MAX_DECODED_TOTAL_BYTES, MAX_DOCUMENT_BYTES, describeBytes } from './limits.js';
import { CLOUD_CONFIG_SCHEMA } from './schema.js';
import { SUBSTITUTION_VARIABLES, substitute } from './substitute.js';
import type {
  CloudConfig,
  DropIn,
  Encoding,
  Etcd2Config,
  EtcdConfig,
  FlannelConfig,
  FleetConfig,
  LocksmithConfig,
  Substitutions,
  UnitCommand,
  UnitConfig,
  UpdateConfig,
  UserConfig,
  WriteFileConfig,
} from './types.js';
import { isNetworkUnit, unitPath } from './unit-name.js';
import { AliasExpansionError, danglingAliases, walk, type Plain, type PlainMap, type WalkContext } from './walk.js';

export const CLOUD_CONFIG_HEADER = '#cloud-config';

export type DocumentKind = 'cloud-config' | 'script';

export type ParseResult =
  | {
      readonly kind: 'cloud-config';
      /** Present when there is no error. */
      readonly config?: CloudConfig;
      readonly diagnostics: readonly Diagnostic[];
    }
  | { readonly kind: 'script'; readonly script: string; readonly diagnostics: readonly Diagnostic[] }
  | { readonly kind: 'unrecognized'; readonly diagnostics: readonly Diagnostic[] };

export interface ParseOptions {
  readonly substitutions?: Substitutions;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.replace(/\s+$/, '');
}

function isIgnition(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return false;
    const o = v as { ignitionVersion?: unknown; ignition?: { version?: unknown } };
    return o.ignitionVersion !== undefined || (typeof o.ignition === 'object' && o.ignition?.version !== undefined);
  } catch {
    return false;
  }
}

/** Which kind of document `text` is, or a message saying why it is neither. */
export function classify(text: string): DocumentKind | string {
  if (text.trim() === '') return `the document is empty; expected "${CLOUD_CONFIG_HEADER}" or "#!" on the first line`;
  const head = firstLine(text);
  if (head === CLOUD_CONFIG_HEADER) return 'cloud-config';
  if (head.startsWith('#!')) return 'script';
  if (isIgnition(text)) return 'this is an Ignition config (JSON), which coreos-cloudinit does not apply';
  const shown = head.length > 40 ? head.slice(0, 37) + '...' : head;
  const hint = head.startsWith(CLOUD_CONFIG_HEADER) ? ` (nothing may follow "${CLOUD_CONFIG_HEADER}" on that line)` : '';
  return `the first line must be exactly "${CLOUD_CONFIG_HEADER}" or start with "#!", found ${JSON.stringify(shown)}${hint}`;
}

export function parseUserData(input: string, options: ParseOptions = {}): ParseResult {
  if (input.length > MAX_DOCUMENT_BYTES || Buffer.byteLength(input) > MAX_DOCUMENT_BYTES) {
    const message = `the document is larger than ${describeBytes(MAX_DOCUMENT_BYTES)}, the limit for a document`;
    return { kind: 'unrecognized', diagnostics: [{ severity: 'error', path: '', message }] };
  }
  const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  const substitutions = options.substitutions ?? {};
  const kind = classify(text);
  if (kind === 'script') {
    const r = substitute(text, substitutions);
    const sink = new DiagnosticSink();
    for (const name of r.missing) {
      const v = SUBSTITUTION_VARIABLES[name];
      sink.warning('', `script: $${name} has no value (give ${v.flag} or set ${v.env}); replaced by ""`);
    }
    return { kind: 'script', script: r.text, diagnostics: sink.items };
  }
  if (kind !== 'cloud-config') {
    return { kind: 'unrecognized', diagnostics: [{ severity: 'error', path: '', message: kind, position: { line: 1, column: 1 } }] };
  }
  return parseCloudConfig(text, substitutions);
}

function yamlDiagnostic(e: YAMLError, severity: 'error' | 'warning'): Diagnostic {
  const first = e.message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const hint = e.code === 'BAD_DQ_ESCAPE' && first.includes('\\$') ? ' (inside double quotes write \\\\$ for a literal $, or use single quotes)' : '';
  const depth = /Maximum call stack size exceeded/.test(first) ? ' (the document nests too deeply)' : '';
  const p = e.linePos?.[0];
  return {
    severity,
    path: '',
    message: `YAML ${severity === 'error' ? 'syntax error' : 'warning'}: ${first}${hint}${depth}`,
    ...(p ? { position: { line: p.line, column: p.col } } : {}),
  };
}

function parseCloudConfig(text: string, substitutions: Substitutions): ParseResult {
  const lines = new LineCounter();
  let doc: Document.Parsed;
  let dangling: Alias[];
  try {
    doc = parseDocument(text, {
      lineCounter: lines,
      prettyErrors: true,
      uniqueKeys: true,
      merge: true,
      customTags: ['binary'],
    });
    dangling = doc.errors.length > 0 ? [] : danglingAliases(doc);
  } catch (err) {
    // The yaml parser recurses once a nesting level; very deep documents overflow the stack.
    if (!(err instanceof RangeError)) throw err;
    const message = `YAML syntax error: the document nests too deeply (${err.message})`;
    return { kind: 'cloud-config', diagnostics: [{ severity: 'error', path: '', message }] };
  }
  const yamlIssues = [...doc.errors.map((e) => yamlDiagnostic(e, 'error')), ...doc.warnings.map((e) => yamlDiagnostic(e, 'warning'))];
  if (doc.errors.length > 0) return { kind: 'cloud-config', diagnostics: yamlIssues };
  if (dangling.length > 0) {
    const issues = dangling.map((a): Diagnostic => {
      const p = a.range ? lines.linePos(a.range[0]) : undefined;
      return {
        severity: 'error',
        path: '',
        message: `YAML syntax error: alias *${a.source} refers to no anchor &${a.source} defined before it`,
        ...(p ? { position: { line: p.line, column: p.col } } : {}),
      };
    });
    return { kind: 'cloud-config', diagnostics: [...yamlIssues, ...issues] };
  }

  const sink = new DiagnosticSink();
  sink.items.push(...yamlIssues);
  const ctx: WalkContext = { doc, lines, sink, substitutions, positions: new Map() };
  let root: Plain | undefined;
  try {
    root = doc.contents === null ? {} : walk(ctx, doc.contents, CLOUD_CONFIG_SCHEMA, '');
  } catch (err) {
    if (!(err instanceof AliasExpansionError)) throw err;
    sink.error('', err.message, err.position);
    return { kind: 'cloud-config', diagnostics: sink.items };
  }
  if (root === undefined || typeof root !== 'object' || Array.isArray(root) || root instanceof Uint8Array) {
    return { kind: 'cloud-config', diagnostics: sink.items };
  }
  const config = buildConfig(root, ctx);
  return hasErrors(sink.items)
    ? { kind: 'cloud-config', diagnostics: sink.items }
    : { kind: 'cloud-config', config, diagnostics: sink.items };
}

// ---- from walked plain values to the typed config, with the checks that look at more than one value ----

function asMap(v: Plain | undefined): PlainMap {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? v : {};
}

function asList(v: Plain | undefined): Plain[] {
  return Array.isArray(v) ? v : [];
}

function asString(v: Plain | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function asStrings(v: Plain | undefined): string[] {
  return asList(v).filter((x): x is string => typeof x === 'string');
}

function flag(v: Plain | undefined): boolean {
  return v === true;
}

function opt<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

function buildConfig(root: PlainMap, ctx: WalkContext): CloudConfig {
  const coreos = asMap(root.coreos);
  const fleet = root.coreos !== undefined && coreos.fleet !== undefined ? (asMap(coreos.fleet) as FleetConfig) : undefined;
  const etcd2 = root.coreos !== undefined && coreos.etcd2 !== undefined ? (asMap(coreos.etcd2) as Etcd2Config) : undefined;
  const section = <T>(key: string): T | undefined => (root.coreos !== undefined && coreos[key] !== undefined ? (asMap(coreos[key]) as T) : undefined);
  return {
    ...opt('hostname', asString(root.hostname)),
    ...(root.manage_etc_hosts === 'localhost' ? { manageEtcHosts: 'localhost' as const } : {}),
    sshAuthorizedKeys: asStrings(root.ssh_authorized_keys),
    users: buildUsers(asList(root.users), ctx),
    writeFiles: buildWriteFiles(asList(root.write_files), ctx),
    coreos: {
      ...opt('fleet', fleet),
      ...opt('etcd2', etcd2),
      ...opt('etcd', section<EtcdConfig>('etcd')),
      ...opt('flannel', section<FlannelConfig>('flannel')),
      ...opt('locksmith', section<LocksmithConfig>('locksmith')),
      ...opt('update', section<UpdateConfig>('update')),
      units: buildUnits(asList(coreos.units), ctx),
    },
  };
}

function pos(ctx: WalkContext, path: string): Position | undefined {
  return ctx.positions.get(path);
}

function buildUsers(items: Plain[], ctx: WalkContext): UserConfig[] {
  const out: UserConfig[] = [];
  const byName = new Map<string, string>();
  items.forEach((item, i) => {
    const u = asMap(item);
    const source = `users[${i}]`;
    const name = asString(u.name);
    if (name === undefined) return;
    const earlier = byName.get(name);
    if (earlier) ctx.sink.warning(`${source}.name`, `user ${JSON.stringify(name)} is also listed at ${earlier}`, pos(ctx, `${source}.name`));
    byName.set(name, source);
    out.push({
      name,
      ...opt('passwd', asString(u.passwd)),
      sshAuthorizedKeys: asStrings(u.ssh_authorized_keys),
      ...opt('gecos', asString(u.gecos)),
      ...opt('homedir', asString(u.homedir)),
      noCreateHome: flag(u.no_create_home),
      ...opt('primaryGroup', asString(u.primary_group)),
      groups: asStrings(u.groups),
      noUserGroup: flag(u.no_user_group),
      system: flag(u.system),
      noLogInit: flag(u.no_log_init),
      ...opt('shell', asString(u.shell)),
      source,
    });
  });
  return out;
}

function buildWriteFiles(items: Plain[], ctx: WalkContext): WriteFileConfig[] {
  const out: WriteFileConfig[] = [];
  const byPath = new Map<string, string>();
  let decoded = 0;
  items.forEach((item, i) => {
    const f = asMap(item);
    const source = `write_files[${i}]`;
    const path = asString(f.path);
    if (path === undefined) return;
    const encoding = asString(f.encoding) as Encoding | undefined;
    const raw = f.content;
    let content: Buffer;
    const left = MAX_DECODED_TOTAL_BYTES - decoded;
    const limit = Math.min(MAX_DECODED_FILE_BYTES, left);
    try {
      content = decodeContent(typeof raw === 'string' || raw instanceof Uint8Array ? raw : '', encoding, limit);
    } catch (err) {
      const at = pos(ctx, `${source}.content`);
      if (err instanceof ContentTooLargeError) {
        const why =
          limit === MAX_DECODED_FILE_BYTES
            ? `decodes to more than ${describeBytes(MAX_DECODED_FILE_BYTES)}, the limit for one file`
            : `all write_files together decode to more than ${describeBytes(MAX_DECODED_TOTAL_BYTES)}, the limit for one document`;
        ctx.sink.error(`${source}.content`, why, at);
        decoded = MAX_DECODED_TOTAL_BYTES;
        return;
      }
      if (!(err instanceof DecodeError)) throw err;
      ctx.sink.error(`${source}.content`, `cannot be decoded as ${JSON.stringify(encoding)}: ${err.message}`, at);
      return;
    }
    decoded += content.length;
    const earlier = byPath.get(path);
    if (earlier) {
      ctx.sink.warning(`${source}.path`, `${JSON.stringify(path)} is also written by ${earlier}; the later entry wins`, pos(ctx, `${source}.path`));
    }
    byPath.set(path, source);
    const permissions = asString(f.permissions);
    let mode = permissions === undefined ? 0o644 : parseInt(permissions, 8);
    const secrets = fleetConfSecrets(path, content);
    if (secrets.length > 0 && (mode & 0o077) !== 0) {
      const at = pos(ctx, `${source}.permissions`) ?? pos(ctx, `${source}.path`);
      const what = `the ${secrets.join(' and ')} it sets`;
      if (permissions === undefined) {
        mode = 0o600;
        ctx.sink.warning(`${source}.permissions`, `not given: ${what} is a secret, so the file is written 0600 (not 0644)`, at);
      } else {
        ctx.sink.warning(`${source}.permissions`, `${JSON.stringify(permissions)} makes ${what} readable by group or others; use '0600'`, at);
      }
    }
    out.push({
      path,
      content,
      mode,
      ...opt('owner', asString(f.owner)),
      source,
    });
  });
  return out;
}

/** fleetd options that are secrets (lib/fleet-options.ts marks them), as fleet.conf spells them. */
const FLEET_CONF_SECRETS = FLEET_OPTION_TABLE.filter((o) => o.secret === true).map((o) => o.name);

/** The secret options a write_files entry sets when it writes a fleet.conf (fleetd's config file). */
function fleetConfSecrets(path: string, content: Buffer): string[] {
  if (!/(^|\/)fleet\.conf$/.test(path)) return [];
  const text = content.toString('utf8');
  return FLEET_CONF_SECRETS.filter((name) => new RegExp(`^\\s*${name.replace(/_/g, '[_-]')}\\s*=\\s*"?[^\\s"]`, 'mi').test(text));
}

function buildUnits(items: Plain[], ctx: WalkContext): UnitConfig[] {
  const out: UnitConfig[] = [];
  const byPath = new Map<string, string>();
  items.forEach((item, i) => {
    const u = asMap(item);
    const source = `coreos.units[${i}]`;
    const name = asString(u.name);
    if (name === undefined) return;
    const runtime = flag(u.runtime);
    const mask = flag(u.mask);
    const enable = flag(u.enable);
    let content = asString(u.content);
    let command = asString(u.command) as UnitCommand | undefined;
    const dropIns: DropIn[] = [];
    asList(u.drop_ins).forEach((d, j) => {
      const m = asMap(d);
      const dname = asString(m.name);
      if (dname === undefined) return;
      const dsource = `${source}.drop_ins[${j}]`;
      const dcontent = asString(m.content);
      if (dcontent === undefined || dcontent === '') {
        ctx.sink.warning(`${dsource}.content`, 'empty drop-in; nothing is written', pos(ctx, `${dsource}.content`) ?? pos(ctx, dsource));
        return;
      }
      dropIns.push({ name: dname, content: dcontent, source: dsource });
    });

    if (mask && content !== undefined && content !== '') {
      ctx.sink.warning(`${source}.content`, 'ignored because mask is set (the unit file becomes a link to /dev/null)', pos(ctx, `${source}.content`));
      content = undefined;
    }
    if (content === '') content = undefined;
    const network = isNetworkUnit(name);
    if (network && command !== undefined) {
      ctx.sink.warning(`${source}.command`, 'ignored for network units: systemd-networkd is restarted when they change', pos(ctx, `${source}.command`));
      command = undefined;
    }
    if (network && enable) {
      ctx.sink.warning(`${source}.enable`, 'network units cannot be enabled; ignored', pos(ctx, `${source}.enable`));
    }
    const given = ['content', 'drop_ins', 'command', 'enable', 'mask', 'runtime'].some((k) => ctx.positions.has(`${source}.${k}`));
    if (!given) {
      ctx.sink.warning(source, `unit ${JSON.stringify(name)} has nothing to do (no content, drop_ins, command, enable, mask or runtime)`, pos(ctx, source));
    }
    if (dropIns.length > 0 && name.length + '.d'.length > MAX_FILE_NAME) {
      ctx.sink.error(`${source}.name`, `is too long to have drop-ins: the directory "${name}.d" would be longer than ${MAX_FILE_NAME} bytes`, pos(ctx, `${source}.name`));
    }
    const path = unitPath(name, runtime);
    const earlier = byPath.get(path);
    if (earlier && (content !== undefined || mask)) {
      ctx.sink.warning(`${source}.name`, `unit ${JSON.stringify(name)} is also defined at ${earlier}; the later entry wins`, pos(ctx, `${source}.name`));
    }
    if (content !== undefined || mask) byPath.set(path, source);
    out.push({
      name,
      runtime,
      enable: enable && !network,
      mask,
      ...opt('content', content),
      ...opt('command', command),
      dropIns,
      source,
    });
  });
  return out;
}
