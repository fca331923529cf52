/** The systemd unit fleetd itself runs in, from /proc/self/cgroup (e.g. fleet.service). */
import { readFileSync } from 'node:fs';

export function ownUnitName(cgroupText?: string): string | undefined {
  let text = cgroupText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/cgroup', 'utf8');
    } catch {
      return undefined;
    }
  }
  for (const line of text.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    const last = path.split('/').pop() ?? '';
    if (/\.(service|scope)$/.test(last) && (line.startsWith('0::') || line.includes(':name=systemd:'))) return last;
  }
  return undefined;
}
