/** The typed result of parsing a valid `#cloud-config` document. Every item keeps its document path. */
import type { EnvValue, FleetKey, Etcd2Key, EtcdKey, FlannelKey, LocksmithKey, UpdateKey } from './service-env.js';

/** coreos.units[].command: the systemctl verbs cloud-config accepts, as lib/systemd runs them. */
import { UNIT_ACTIONS, type UnitAction } from '../lib/systemd/types.js';
export const UNIT_COMMANDS = UNIT_ACTIONS;
export type UnitCommand = UnitAction;

export const ENCODINGS = ['b64', 'base64', 'gz', 'gzip', 'gz+b64', 'gz+base64', 'gzip+b64', 'gzip+base64'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Defined with the options it is a value of (service-env.ts); re-exported as part of the parsed document's types. */
export type { EnvValue };

/** Options of `coreos.fleet`, by fleet's option name (underscored). */
export type FleetConfig = Partial<Record<FleetKey, EnvValue>>;
/** Options of `coreos.etcd2`, by option name (underscored). */
export type Etcd2Config = Partial<Record<Etcd2Key, EnvValue>>;
/** Options of `coreos.etcd` (etcd 0.4). */
export type EtcdConfig = Partial<Record<EtcdKey, EnvValue>>;
export type FlannelConfig = Partial<Record<FlannelKey, EnvValue>>;
export type LocksmithConfig = Partial<Record<LocksmithKey, EnvValue>>;
export type UpdateConfig = Partial<Record<UpdateKey, EnvValue>>;

export interface DropIn {
  readonly name: string;
  readonly content: string;
  /** e.g. `coreos.units[0].drop_ins[1]` */
  readonly source: string;
}

export interface UnitConfig {
  readonly name: string;
  readonly runtime: boolean;
  readonly enable: boolean;
  readonly mask: boolean;
  /** Unit file text; absent means the unit is assumed to exist already. */
  readonly content?: string;
  readonly command?: UnitCommand;
  readonly dropIns: readonly DropIn[];
  readonly source: string;
}

export interface WriteFileConfig {
  /** Absolute path on the target system (before --root is prepended). */
  readonly path: string;
  /** Decoded bytes to write. */
  readonly content: Buffer;
  /** File mode, 0644 when not given. */
  readonly mode: number;
  /** `user`, `user:group`, `user:` or `:group` as given; absent means the writer's own ids. */
  readonly owner?: string;
  readonly source: string;
}

export interface UserConfig {
  readonly name: string;
  readonly passwd?: string;
  readonly sshAuthorizedKeys: readonly string[];
  readonly gecos?: string;
  readonly homedir?: string;
  readonly noCreateHome: boolean;
  readonly primaryGroup?: string;
  readonly groups: readonly string[];
  readonly noUserGroup: boolean;
  readonly system: boolean;
  readonly noLogInit: boolean;
  readonly shell?: string;
  readonly source: string;
}

export interface CloudConfig {
  readonly hostname?: string;
  /** `manage_etc_hosts`: only `localhost` exists (coreos-cloudinit's one value). */
  readonly manageEtcHosts?: 'localhost';
  readonly sshAuthorizedKeys: readonly string[];
  readonly users: readonly UserConfig[];
  readonly writeFiles: readonly WriteFileConfig[];
  readonly coreos: {
    readonly fleet?: FleetConfig;
    readonly etcd2?: Etcd2Config;
    readonly etcd?: EtcdConfig;
    readonly flannel?: FlannelConfig;
    readonly locksmith?: LocksmithConfig;
    readonly update?: UpdateConfig;
    readonly units: readonly UnitConfig[];
  };
}

/** Values for `$private_ipv4` and friends; a missing one is substituted by an empty string (with a warning). */
export interface Substitutions {
  readonly privateIpv4?: string;
  readonly publicIpv4?: string;
  readonly privateIpv6?: string;
  readonly publicIpv6?: string;
}
