/** Values exchanged with systemd's manager (org.freedesktop.systemd1), as plain data. */

/** How a new job interacts with queued ones (systemctl --job-mode). */
export type JobMode =
  | 'replace'
  | 'fail'
  | 'isolate'
  | 'ignore-dependencies'
  | 'ignore-requirements'
  | 'replace-irreversibly'
  | 'flush';

/** The unit commands cloud-config's `coreos.units[].command` accepts, systemctl spelling. */
export const UNIT_ACTIONS = [
  'start',
  'stop',
  'restart',
  'reload',
  'try-restart',
  'reload-or-restart',
  'reload-or-try-restart',
] as const;
export type UnitAction = (typeof UNIT_ACTIONS)[number];

/** The result a finished job reports in JobRemoved. */
export type JobResult =
  | 'done'
  | 'canceled'
  | 'timeout'
  | 'failed'
  | 'dependency'
  | 'skipped'
  | 'invalid'
  | 'assert'
  | 'unsupported'
  | 'collected'
  | 'once';

export interface UnitState {
  /** loaded | not-found | bad-setting | error | masked | stub | merged */
  readonly loadState: string;
  /** active | reloading | inactive | failed | activating | deactivating | maintenance */
  readonly activeState: string;
  /** unit-type specific, e.g. running | dead | exited | failed | auto-restart */
  readonly subState: string;
}

export interface UnitStatus extends UnitState {
  readonly name: string;
  readonly description: string;
}

/** One change LinkUnitFiles/EnableUnitFiles/... made on disk. */
export interface UnitFileChange {
  /** symlink | unlink | is-mask | is-dangling | ... */
  readonly type: string;
  readonly file: string;
  readonly destination: string;
}

export interface JobRemovedEvent {
  readonly id: number;
  /** the job's object path */
  readonly job: string;
  readonly unit: string;
  readonly result: JobResult;
}

export interface UnitStateChangedEvent {
  readonly unit: string;
  readonly state: UnitState;
}

/** A job queued by startUnit & co. `result` is set when the call waited for it. */
export interface JobOutcome {
  readonly job: string;
  readonly unit: string;
  readonly result?: JobResult;
}

export interface JobOptions {
  /** default 'replace' */
  readonly mode?: JobMode;
  /** resolve only when the job is finished (JobRemoved), with its result */
  readonly wait?: boolean;
  /** how long to wait for the job; default the client's jobTimeoutMs */
  readonly timeoutMs?: number;
}

export interface ConnectOptions {
  /** how long connecting may take; default 10 s */
  readonly connectTimeoutMs?: number;
  /** how long one method call may take; default 30 s */
  readonly callTimeoutMs?: number;
  /** how long waiting for a job may take; default 120 s */
  readonly jobTimeoutMs?: number;
}

/** A job in systemd's queue. */
export interface QueuedJob {
  readonly id: number;
  readonly unit: string;
  /** start | stop | restart | reload | verify-active | ... */
  readonly type: string;
  /** waiting | running */
  readonly state: string;
}
