/**
 * The shape of a line of fleet's client logger (Go's log package with dates): `2006/01/02 15:04:05 LEVEL
 * file.go:N: message`. Here, below the commands, because the API client's request lines (http.ts) and the
 * commands' own lines (../golog.ts) share it (docs/fleet-compat.md#fleetctl).
 */
export type GoLogLevel = 'DEBUG' | 'WARN';

/** One line as fleet's logger wrote it (local time, as Go's log package). */
export function goLogLine(now: Date, level: GoLogLevel, where: string, msg: string): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}/${p(now.getMonth() + 1)}/${p(now.getDate())} ${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}`;
  return `${stamp} ${level} ${where}: ${msg}`;
}
