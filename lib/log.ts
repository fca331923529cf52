/**
 * Structured, quiet-by-default logging: one JSON object a line on stderr.
 * Level comes from FLEET_LOG_LEVEL (error|warn|info|debug), default warn; fleetd raises it with `verbosity`.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const order: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

let threshold: LogLevel = parseLevel(process.env.FLEET_LOG_LEVEL) ?? 'warn';

function parseLevel(v: string | undefined): LogLevel | undefined {
  return v && v in order ? (v as LogLevel) : undefined;
}

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

export function logLevel(): LogLevel {
  return threshold;
}

export type LogFields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export function logger(component: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (order[level] > order[threshold]) return;
    const rec = { ts: new Date().toISOString(), level, component, msg, ...fields };
    process.stderr.write(JSON.stringify(rec, (_k, v: unknown) => (v instanceof Error ? v.message : v)) + '\n');
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    child: (c) => logger(`${component}.${c}`),
  };
}
