/** The cloud-config module API: parse (pure) -> plan (pure) -> apply (I/O). */
export { parseUserData, classify, CLOUD_CONFIG_HEADER, type ParseResult, type ParseOptions, type DocumentKind } from './parse.js';
export {
  planCloudConfig,
  planScript,
  describeStep,
  affectsOf,
  DEFAULT_SSH_KEY_NAME,
  DEFAULT_SSH_USER,
  type Plan,
  type PlanStep,
  type PlanOptions,
} from './plan.js';
export { applyPlan, readAccounts, type ApplyOptions, type ApplyReport, type StepResult, type Outcome } from './apply.js';
export { preflight } from './preflight.js';
export { connectSystemdApplier, type SystemdApplier } from './systemd-applier.js';
export { formatDiagnostic, formatDiagnosticLine, hasErrors, type Diagnostic, type Severity, type Position } from './diagnostics.js';
export { InvalidDocumentError, ApplyError } from './errors.js';
export { UsageError } from '../lib/errors.js';
export { substitute, substitutionsFromEnv, SUBSTITUTION_VARIABLES } from './substitute.js';
export { FLEET_OPTIONS, ETCD2_OPTIONS, renderEnvironmentDropIn, CLOUDINIT_DROP_IN } from './service-env.js';
export { unitNameProblem, unitPath, dropInPath, isNetworkUnit } from './unit-name.js';
export {
  buildDatasources,
  fetchFromDatasources,
  selectDatasource,
  mergeMetadata,
  inflateUserdata,
  OEM_PRESETS,
  DatasourceError,
  NoDatasourceError,
  type Datasource,
  type Metadata,
  type SourceFlags,
  type Fetched,
} from './datasource/index.js';
export { runCli, EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_APPLY_FAILED, type CliIO } from './cli.js';
export type * from './types.js';
