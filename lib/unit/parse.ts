/**
 * systemd unit-file syntax (systemd.syntax(7)) into a UnitFile, with values as fleet keeps them.
 *
 * Lines end at LF, CRLF or a lone CR (as systemd's read_line does). A line whose first non-blank character is
 * `#` or `;` is a comment, also in the middle of a continuation. A line ending in an odd number of backslashes
 * continues onto the next physical line. A continued value is kept as fleet's unit package (go-systemd) kept it,
 * so it hashes and prints as in fleet (docs/fleet-compat.md#unit-files): the backslash stays, the continued
 * lines follow after a newline as written; a blank line that ends a continuation leaves the value ending in
 * `\` + newline; at the end of the file a dangling backslash is dropped. Only a value may be continued, not a
 * key or a section header. Only space and tab count as blanks to trim. Errors name the first physical line of
 * the logical line.
 */
import { UnitFileError } from './errors.js';
import type { UnitFile, UnitOption } from './types.js';

export const MAX_UNIT_FILE_BYTES = 1024 * 1024;

const DEFAULT_SOURCE = '<unit file>';
const BOM = '\uFEFF';

export function parseUnitFile(input: string | Uint8Array, source: string = DEFAULT_SOURCE): UnitFile {
  const text = decode(input, source);
  const options: UnitOption[] = [];
  let section: string | undefined;

  const parseLogical = (raw: string, line: number): void => {
    const l = trimBlanks(raw);
    if (trimBlanks(logicalValue(l)) === '' || isCommentStart(l)) return;
    const fail = (reason: string): never => {
      throw new UnitFileError(reason, { source, line });
    };
    if (l.startsWith('[')) {
      if (l.includes('\n')) fail(`a section header cannot be continued onto the next line: ${quote(l)}`);
      section = parseSectionHeader(l, fail);
      return;
    }
    const eq = l.indexOf('=');
    if (eq < 0) {
      if (l.startsWith('.include')) fail('".include" is not supported; put the contents into the unit file');
      fail(`expected "Key=Value", a [Section] header or a comment, got ${quote(l)}`);
    }
    if (section === undefined) fail(`assignment outside of any section: ${quote(l)} comes before the first [Section] header`);
    const name = trimBlanks(l.slice(0, eq));
    if (name === '') fail(`assignment with an empty key: ${quote(l)}`);
    if (name.includes('\n')) fail(`a key cannot be continued onto the next line, only a value: ${quote(l)}`);
    options.push({ section: section as string, name, value: trimBlanks(l.slice(eq + 1)) });
  };

  const lines = text.split(/\r\n|\r|\n/);
  // The physical lines of a continued logical line, each but the last ending in its backslash.
  let pending: { parts: string[]; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    if (isCommentStart(trimStartBlanks(raw))) continue;
    if (pending === undefined) {
      if (endsInContinuation(raw)) pending = { parts: [raw], line: i + 1 };
      else parseLogical(raw, i + 1);
      continue;
    }
    if (trimBlanks(raw) === '') {
      // A blank line ends the continuation; the value keeps its last backslash and newline, as in fleet.
      parseLogical(`${pending.parts.join('\n')}\n`, pending.line);
      pending = undefined;
      continue;
    }
    pending.parts.push(raw);
    if (!endsInContinuation(raw)) {
      parseLogical(pending.parts.join('\n'), pending.line);
      pending = undefined;
    }
  }
  if (pending) {
    // The file ends inside a continuation: the last backslash continues nothing.
    const last = pending.parts.length - 1;
    pending.parts[last] = (pending.parts[last] as string).slice(0, -1);
    parseLogical(pending.parts.join('\n'), pending.line);
  }

  return { options };
}

/** A value as systemd reads it: each continuation (an unescaped backslash and the newline after it) becomes one
 * space, as in systemd.syntax(7); a value without continuations is returned as it is. */
export function logicalValue(value: string): string {
  if (!value.includes('\n')) return value;
  return value
    .split('\n')
    .map((line, i, all) => (i < all.length - 1 && endsInContinuation(line) ? `${line.slice(0, -1)} ` : line))
    .join('')
    .replace(/[ \t]+$/, '');
}

/** Splits an [X-Fleet] value written as `"a=b" "c=d"` (starts and ends with `"`) into its values; any other
 * value is returned as the only value. Quotes are dropped, blanks outside quotes separate values, and empty
 * values are left out. */
export function splitMultiValue(value: string): string[] {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return [value];
  const values: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') {
      quoted = !quoted;
    } else if ((ch === ' ' || ch === '\t') && !quoted) {
      if (current !== '') values.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current !== '') values.push(current);
  return values;
}

/** Section names: non-empty, no surrounding blanks, none of `[ ] \ " '` and no control characters. */
export function isValidSectionName(name: string): boolean {
  if (name === '' || trimBlanks(name) !== name) return false;
  return !/[\x00-\x1f\x7f[\]\\"']/.test(name);
}

function parseSectionHeader(l: string, fail: (reason: string) => never): string {
  const close = l.indexOf(']');
  if (close < 0) fail(`unterminated section header ${quote(l)}: expected "]"`);
  if (!l.endsWith(']')) fail(`unexpected text after the section header in ${quote(l)}`);
  const name = l.slice(1, -1);
  if (!isValidSectionName(name)) {
    fail(`invalid section name ${quote(name)}: it must be non-empty, without surrounding blanks, brackets, quotes, backslashes or control characters`);
  }
  return name;
}

function decode(input: string | Uint8Array, source: string): string {
  let text: string;
  if (typeof input === 'string') {
    const size = Buffer.byteLength(input, 'utf8');
    if (size > MAX_UNIT_FILE_BYTES) throw tooLarge(size, source);
    const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(input);
    if (lone) {
      throw new UnitFileError(`invalid Unicode: unpaired surrogate U+${lone[0].charCodeAt(0).toString(16).toUpperCase()} cannot be written as UTF-8`,
        { source, line: lineAt(input, lone.index) });
    }
    text = input;
  } else {
    if (input.byteLength > MAX_UNIT_FILE_BYTES) throw tooLarge(input.byteLength, source);
    const bad = invalidUtf8Offset(input);
    if (bad >= 0) {
      throw new UnitFileError(`invalid UTF-8 at byte offset ${bad} (byte 0x${(input[bad] as number).toString(16).padStart(2, '0')})`,
        { source, line: lineAtByte(input, bad) });
    }
    text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
  }
  if (text.startsWith(BOM)) text = text.slice(1);
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new UnitFileError('NUL byte in unit file', { source, line: lineAt(text, nul) });
  return text;
}

function tooLarge(size: number, source: string): UnitFileError {
  return new UnitFileError(`unit file is ${size} bytes, more than the limit of ${MAX_UNIT_FILE_BYTES} bytes (1 MiB)`, { source });
}

/** Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF), or -1. */
function invalidUtf8Offset(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** 1-based line of a UTF-16 index, counting LF, CRLF and lone CR as line ends. */
function lineAt(text: string, index: number): number {
  return text.slice(0, index).split(/\r\n|\r|\n/).length;
}

function lineAtByte(b: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) line++;
    else if (b[i] === 0x0d) {
      line++;
      if (b[i + 1] === 0x0a) i++;
    }
  }
  return line;
}

function endsInContinuation(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

function isCommentStart(s: string): boolean {
  return s.startsWith('#') || s.startsWith(';');
}

function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

function trimStartBlanks(s: string): string {
  let i = 0;
  while (isBlank(s[i])) i++;
  return s.slice(i);
}

/** Trims spaces and tabs only (systemd's blanks; other Unicode spaces are content). */
export function trimBlanks(s: string): string {
  let end = s.length;
  while (end > 0 && isBlank(s[end - 1])) end--;
  let i = 0;
  while (i < end && isBlank(s[i])) i++;
  return s.slice(i, end);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}
