/** This machine's identity: id from /etc/machine-id, public IP from the default-route interface. */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { FleetError, errorMessage } from '../../lib/errors.js';

export class MachineIdError extends FleetError {
  override readonly name = 'MachineIdError';
}

export function readMachineId(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MachineIdError(`cannot read machine id from ${file}: ${errorMessage(err)}`);
  }
  const id = text.trim();
  if (!/^[0-9a-f]{32}$/.test(id)) {
    throw new MachineIdError(`${file} does not hold a machine id (32 lowercase hex digits), found ${JSON.stringify(id.slice(0, 40))}`);
  }
  return id;
}

/** Interface of the IPv4 default route, from /proc/net/route. */
export function defaultRouteInterface(routeTable?: string): string | undefined {
  let table = routeTable;
  if (table === undefined) {
    try {
      table = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return undefined;
    }
  }
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 3 && cols[1] === '00000000') return cols[0];
  }
  return undefined;
}

function isGlobalUnicastV4(addr: string): boolean {
  const [a, b] = addr.split('.').map(Number) as [number, number];
  if (a === 127 || a === 0 || a >= 224) return false;
  if (a === 169 && b === 254) return false;
  return true;
}

/** First global-unicast IPv4 of the default-route interface, else of any interface; '' if none. */
export function detectPublicIp(): string {
  const ifaces = networkInterfaces();
  const pick = (name: string): string | undefined =>
    ifaces[name]?.find((a) => a.family === 'IPv4' && !a.internal && isGlobalUnicastV4(a.address))?.address;
  const def = defaultRouteInterface();
  if (def !== undefined) {
    const ip = pick(def);
    if (ip !== undefined) return ip;
  }
  for (const name of Object.keys(ifaces).sort()) {
    const ip = pick(name);
    if (ip !== undefined) return ip;
  }
  return '';
}
