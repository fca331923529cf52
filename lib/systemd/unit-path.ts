/** systemd's object paths for units: /org/freedesktop/systemd1/unit/<name, bus-label escaped>. */

export const UNIT_PATH_PREFIX = '/org/freedesktop/systemd1/unit/';

const isAlpha = (c: string): boolean => /^[A-Za-z]$/.test(c);
const isDigit = (c: string): boolean => /^[0-9]$/.test(c);

/** Escape like sd_bus_path_encode: letters stay, digits stay except first, everything else `_xx`. */
export function escapeBusLabel(label: string): string {
  if (label === '') return '_';
  let out = '';
  for (let i = 0; i < label.length; i++) {
    const c = label[i]!;
    if (isAlpha(c) || (i > 0 && isDigit(c))) {
      out += c;
    } else {
      for (const byte of Buffer.from(c, 'utf8')) out += '_' + byte.toString(16).padStart(2, '0');
    }
  }
  return out;
}

export function unescapeBusLabel(label: string): string {
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const c = label[i]!;
    const hex = label.slice(i + 1, i + 3);
    if (c === '_' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(c.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function unitObjectPath(unit: string): string {
  return UNIT_PATH_PREFIX + escapeBusLabel(unit);
}

/** The unit name of a unit object path, or undefined for other paths. */
export function unitNameOfPath(path: string): string | undefined {
  if (!path.startsWith(UNIT_PATH_PREFIX)) return undefined;
  const label = path.slice(UNIT_PATH_PREFIX.length);
  if (label === '' || label.includes('/')) return undefined;
  return unescapeBusLabel(label);
}
