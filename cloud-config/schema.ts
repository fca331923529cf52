/** The shape of a `#cloud-config` document as this implementation accepts it. */
import { idProblem, parseOwner } from './accounts.js';
import { MAX_FILE_NAME, MAX_PATH } from './limits.js';
import { ETCD2_OPTIONS, ETCD_OPTIONS, FLANNEL_OPTIONS, FLEET_OPTIONS, LOCKSMITH_OPTIONS, UPDATE_OPTIONS, type EnvOption } from './service-env.js';
import { bool, int, float, list, map, str, type Check, type MapSpec, type Spec } from './spec.js';
import { ENCODINGS, UNIT_COMMANDS } from './types.js';
import { unitNameProblem } from './unit-name.js';

export const PERMISSIONS = /^0?[0-7]{3,4}$/;

const q = JSON.stringify;

/** Problems any absolute path has that the kernel or a later step would refuse: control characters (NUL
 * above all), and names or a whole path longer than Linux allows. */
function pathProblem(v: string): string | undefined {
  if (!v.startsWith('/')) return `${q(v)} is not an absolute path`;
  if (/[\x00-\x1f\x7f]/.test(v)) return `${q(v)} contains a control character${v.includes('\0') ? ' (NUL)' : ''}`;
  if (Buffer.byteLength(v) > MAX_PATH) return `the path is longer than ${MAX_PATH} bytes`;
  const long = v.split('/').find((s) => Buffer.byteLength(s) > MAX_FILE_NAME);
  if (long !== undefined) return `${q(long.slice(0, 40) + '...')} is longer than ${MAX_FILE_NAME} bytes, the limit for one name`;
  return undefined;
}

const absoluteFilePath: Check = (v) => {
  const problem = pathProblem(v);
  if (problem) return problem;
  const segments = v.split('/');
  if (segments.some((s) => s === '..')) return `${q(v)} must not contain ".." segments`;
  if (v.endsWith('/') || segments.every((s) => s === '')) return `${q(v)} names a directory, not a file`;
  if (segments.some((s) => s === '.')) return `${q(v)} must not contain "." segments (write the path without them)`;
  return undefined;
};

const absolutePath: Check = (v) => pathProblem(v);

/** Why `v` cannot be a directory cloud-config writes under (--workspace): the checks of a write_files path. */
export function directoryPathProblem(v: string): string | undefined {
  const problem = absoluteFilePath(v.replace(/(.)\/+$/, '$1'));
  return typeof problem === 'string' ? problem : undefined;
}

const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);

/** Why `v` is not a valid host name, or undefined (also used for host names from metadata). */
export const hostnameProblem = (v: string): string | undefined =>
  v.length <= 253 && HOSTNAME.test(v)
    ? undefined
    : `${q(v)} is not a valid host name (dot-separated labels of letters, digits and "-", at most 63 characters each)`;
const hostname: Check = hostnameProblem;

const USER_NAME = /^[a-z_][a-z0-9_-]*\$?$/;

const userName: Check = (v) =>
  v.length <= 32 && USER_NAME.test(v)
    ? undefined
    : `${q(v)} is not a valid user name (lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters)`;

const groupName: Check = (v) => {
  if (/^[0-9]+$/.test(v)) return idProblem(v);
  return v.length <= 32 && USER_NAME.test(v) ? undefined : `${q(v)} is not a valid group name`;
};

const octalMode: Check = (v) => (PERMISSIONS.test(v) ? undefined : `${q(v)} is not an octal mode`);

const owner: Check = (v) => {
  const parsed = parseOwner(v);
  return typeof parsed === 'string' ? parsed : undefined;
};

const unitName: Check = (v) => unitNameProblem(v);

const dropInName: Check = (v) => {
  if (v.includes('/') || v === '.' || v === '..') return `${q(v)} must be a plain file name`;
  if (Buffer.byteLength(v) > MAX_FILE_NAME) return `is longer than ${MAX_FILE_NAME} bytes, the limit for one name`;
  if (!v.endsWith('.conf')) return { warning: `${q(v)} does not end in ".conf", so systemd will not read it` };
  return undefined;
};

const sshKey: Check = (v) =>
  v.trim() === '' ? 'must not be empty' : undefined;

const passwordHash: Check = (v) =>
  /^[$*!]/.test(v) || v === ''
    ? undefined
    : { warning: 'does not look like a crypt(3) hash (such as "$6$..."); it is stored as given, so no password will match it' };

function envSpec(o: EnvOption): Spec {
  const extra = o.deprecated ? { deprecated: o.deprecated } : {};
  switch (o.kind) {
    case 'bool':
      return bool(extra);
    case 'int':
      return { ...int(o.min), ...extra, ...(o.check ? { check: o.check } : {}) };
    case 'float':
      return { ...float(o.min), ...extra, ...(o.check ? { check: o.check } : {}) };
    case 'string':
      return str({
        singleLine: true,
        ...extra,
        ...(o.oneOf ? { oneOf: o.oneOf } : {}),
        ...(o.check ? { check: o.check } : {}),
      });
  }
}

const envMap = (options: readonly EnvOption[]): MapSpec =>
  map(Object.fromEntries(options.map((o) => [o.key, envSpec(o)])));

const NOT_SUPPORTED = 'not supported by this implementation';

export const CLOUD_CONFIG_SCHEMA: MapSpec = map(
  {
    hostname: str({ singleLine: true, check: hostname }),
    manage_etc_hosts: str({ oneOf: ['localhost'] }),
    ssh_authorized_keys: list(str({ check: sshKey })),
    users: list(
      map(
        {
          name: str({ singleLine: true, check: userName }),
          passwd: str({ singleLine: true, check: passwordHash }),
          ssh_authorized_keys: list(str({ check: sshKey })),
          gecos: str({ singleLine: true, check: (v) => (v.includes(':') ? 'must not contain ":"' : undefined) }),
          homedir: str({ singleLine: true, check: absolutePath }),
          no_create_home: bool(),
          primary_group: str({ singleLine: true, check: groupName }),
          groups: list(str({ singleLine: true, check: groupName })),
          no_user_group: bool(),
          system: bool(),
          no_log_init: bool(),
          shell: str({ singleLine: true, check: absolutePath }),
        },
        {
          required: ['name'],
          ignored: {
            coreos_ssh_import_github: `importing keys from GitHub is ${NOT_SUPPORTED}`,
            coreos_ssh_import_github_users: `importing keys from GitHub is ${NOT_SUPPORTED}`,
            coreos_ssh_import_url: `importing keys from a URL is ${NOT_SUPPORTED}`,
          },
        },
      ),
    ),
    write_files: list(
      map(
        {
          path: str({ singleLine: true, check: absoluteFilePath }),
          content: { t: 'content' },
          permissions: str({ literal: true, singleLine: true, check: octalMode }),
          owner: str({ literal: true, singleLine: true, check: owner }),
          encoding: str({ oneOf: ENCODINGS }),
        },
        { required: ['path'] },
      ),
    ),
    coreos: map(
      {
        fleet: envMap(FLEET_OPTIONS),
        etcd2: envMap(ETCD2_OPTIONS),
        etcd: envMap(ETCD_OPTIONS),
        flannel: envMap(FLANNEL_OPTIONS),
        locksmith: envMap(LOCKSMITH_OPTIONS),
        update: envMap(UPDATE_OPTIONS),
        units: list(
          map(
            {
              name: str({ singleLine: true, check: unitName }),
              runtime: bool(),
              enable: bool(),
              content: str(),
              command: str({ oneOf: UNIT_COMMANDS }),
              mask: bool(),
              drop_ins: list(
                map({ name: str({ singleLine: true, check: dropInName }), content: str() }, { required: ['name'] }),
              ),
            },
            { required: ['name'] },
          ),
        ),
      },
      {
        ignored: {
          oem: `coreos.oem is ${NOT_SUPPORTED}`,
          write_files: 'write_files does not belong under coreos; put it at the top level',
        },
      },
    ),
  },
);
