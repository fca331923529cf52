/**
 * The canonical text of a unit (go-systemd's Serialize layout, which fleet hashes): sections in first-seen
 * order with all their options gathered under one header, `Name=Value` lines in order, one blank line between
 * sections, a trailing newline; no options => empty text.
 */
import { UnitFileError } from './errors.js';
import { isValidSectionName, trimBlanks } from './parse.js';
import type { UnitFile, UnitOption } from './types.js';

/** Throws UnitFileError naming `source` (default `<serialize>`) for an option that cannot be written. */
export function serializeUnitFile(unit: UnitFile, source = '<serialize>'): string {
  const bySection = new Map<string, UnitOption[]>();
  for (const opt of unit.options) {
    checkSerializable(opt, source);
    let list = bySection.get(opt.section);
    if (!list) bySection.set(opt.section, (list = []));
    list.push(opt);
  }
  const blocks: string[] = [];
  for (const [section, opts] of bySection) {
    blocks.push(`[${section}]\n${opts.map((o) => `${o.name}=${writtenValue(o.value)}\n`).join('')}`);
  }
  return blocks.join('\n');
}

/** A value ending in an odd number of backslashes would continue onto the next line; a trailing space (which
 * parsing trims) stops that and keeps the value as it is. */
function writtenValue(value: string): string {
  let n = 0;
  for (let i = value.length - 1; i >= 0 && value[i] === '\\'; i--) n++;
  return n % 2 === 1 ? `${value} ` : value;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkSerializable(opt: UnitOption, source: string): void {
  const fail = (reason: string): never => {
    throw new UnitFileError(`cannot write option ${JSON.stringify(opt.name)} of section [${opt.section}]: ${reason}`,
      { source });
  };
  if (!isValidSectionName(opt.section)) fail('invalid section name');
  const name = opt.name;
  if (name === '' || trimBlanks(name) !== name) fail('the key is empty or has surrounding blanks');
  if (name.includes('=')) fail('the key contains "="');
  if (/^[#;[]/.test(name)) fail('the key starts with "#", ";" or "[" and would read back as something else');
  if (/[\r\n\0]/.test(name) || /[\r\n\0]/.test(opt.value)) fail('line breaks and NUL cannot be written');
  if (trimBlanks(opt.value) !== opt.value) fail('the value has surrounding blanks, which reading trims');
  if (LONE_SURROGATE.test(opt.section) || LONE_SURROGATE.test(name) || LONE_SURROGATE.test(opt.value)) {
    fail('invalid Unicode: an unpaired surrogate cannot be written as UTF-8');
  }
}
