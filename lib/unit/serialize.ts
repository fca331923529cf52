/**
 * The canonical text of a unit (go-systemd's Serialize layout, which fleet hashes): sections in first-seen
 * order with all their options gathered under one header, `Name=Value` lines in order, one blank line between
 * sections, a trailing newline; no options => empty text. A value holding fleet's continuations (`\` + newline)
 * is written as it is, so systemd reads it as one value; no other line break can be written.
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
  return endsInUnescapedBackslash(value) ? `${value} ` : value;
}

/**
 * A newline may stand in a value only as fleet's continuation: right after an unescaped backslash (an odd number
 * of them), so systemd reads the next line as more of the same value. Any other newline would start a line of
 * its own in the written file, i.e. could add an option or a section. A continued line that is a comment would
 * be skipped by systemd and by our parser (the value would not read back as written), and a blank one ends the
 * value early; only the very end of the value may be a newline (a blank line follows it anyway).
 */
function continuationProblem(value: string): string | undefined {
  const lines = value.split('\n');
  for (let i = 0; i < lines.length - 1; i++) {
    if (!endsInUnescapedBackslash(lines[i] as string)) {
      return 'line breaks and NUL cannot be written (a newline must follow an unescaped backslash: a continuation)';
    }
    const next = lines[i + 1] as string;
    const isLast = i + 1 === lines.length - 1;
    if (isLast && next === '') continue;
    if (trimBlanks(next) === '') return 'a continued line is blank, which would end the value';
    if (/^[ \t]*[#;]/.test(next)) return 'a continued line starts with "#" or ";" and would read back as a comment';
  }
  return undefined;
}

function endsInUnescapedBackslash(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
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
  if (/[\r\n\0]/.test(name) || /[\r\0]/.test(opt.value)) fail('line breaks and NUL cannot be written');
  const breakProblem = continuationProblem(opt.value);
  if (breakProblem !== undefined) fail(breakProblem);
  if (trimBlanks(opt.value) !== opt.value) fail('the value has surrounding blanks, which reading trims');
  if (LONE_SURROGATE.test(opt.section) || LONE_SURROGATE.test(name) || LONE_SURROGATE.test(opt.value)) {
    fail('invalid Unicode: an unpaired surrogate cannot be written as UTF-8');
  }
}
