export { connectSystemd, systemBusAddressOf, DEFAULT_SYSTEM_BUS, SystemdClient } from './client.js';
export type { SystemdEvents } from './client.js';
export { SystemdError, SystemdConnectionError, JobTimeoutError, NO_SUCH_UNIT, isNoSuchUnit } from './errors.js';
export { unitObjectPath, unitNameOfPath, escapeBusLabel, unescapeBusLabel } from './unit-path.js';
export * from './types.js';
