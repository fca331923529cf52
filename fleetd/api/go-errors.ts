/**
 * The texts fleetd v1.0 answered bad requests with (docs/fleet-compat.md#http-api), where they came from Go's
 * standard library rather than from fleet: a request body that is not JSON (encoding/json's decoder: `EOF`,
 * `unexpected EOF`, `invalid character 'x' looking for beginning of value`, ...), a JSON value of the wrong type
 * (`json: cannot unmarshal number into Go struct field Unit.name of type string`), a page token that is not
 * base64 (`illegal base64 data at input byte 4`) or too short; and fleet's own texts for unit names and
 * [X-Fleet] combinations it refused. Written from the observable behaviour, so clients and people who know
 * fleetd's answers see the same ones.
 */
import { ApiError } from '../../lib/api/errors.js';
import { goQuote, goQuoteRune } from '../../lib/unit/fleet-words.js';
export { fleetRequirementsMessage, goQuote, goQuoteRune } from '../../lib/unit/fleet-words.js';
import { MAX_UNIT_NAME_BYTES, TEMPLATE_UNIT_TYPES, VALID_UNIT_TYPES } from '../../lib/unit/names.js';

/** fleet's check of a unit name, in its order and words (api/units.go); undefined when fleet took the name. */
export function fleetNameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'unit name cannot be empty';
  if (bytes > MAX_UNIT_NAME_BYTES) return `unit name exceeds maximum length (${MAX_UNIT_NAME_BYTES})`;
  const dot = name.lastIndexOf('.');
  if (dot < 0) return 'unit name must contain "."';
  if (dot === name.length - 1) return 'unit name cannot end in "."';
  const suffix = name.slice(dot + 1);
  if (!(VALID_UNIT_TYPES as readonly string[]).includes(suffix)) return `invalid unit type: ${goQuote(suffix)}`;
  if (name.includes('@') && !(TEMPLATE_UNIT_TYPES as readonly string[]).includes(suffix)) return `invalid unit type for template: ${goQuote(suffix)}`;
  for (const c of name.slice(0, dot)) {
    if (!/^[a-zA-Z0-9:_.@\-\\]$/.test(c)) return `invalid character ${goQuoteRune(c)} in unit name`;
  }
  if (name.startsWith('@')) return 'unit name cannot start in "@"';
  return undefined;
}

// ---- encoding/json's decoder -------------------------------------------------------------------------------

/** Go's quoteChar: how its JSON scanner shows the byte it stumbled on. */
function quoteByte(b: number): string {
  if (b === 0x27) return "'\\''";
  if (b === 0x22) return '\'"\'';
  return goQuoteRune(String.fromCharCode(b));
}

class Syntax extends Error {}

/** Nesting Go's JSON scanner allows. */
const MAX_JSON_DEPTH = 10000;

/**
 * Scans the JSON value of `buf` as Go's json.Decoder does and returns where it starts and ends; throws ApiError 400 with Go's text (prefixed by `prefix`) when there is none.
 */
function scanValue(buf: Buffer, prefix: string): { start: number; end: number } {
  let i = 0;
  const n = buf.length;
  const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
  const peek = (): number => {
    if (i >= n) throw new Syntax('unexpected EOF');
    return buf[i]!;
  };
  const bad = (b: number, context: string): never => {
    throw new Syntax(`invalid character ${quoteByte(b)} ${context}`);
  };
  const skip = (): void => {
    while (i < n && isSpace(buf[i]!)) i++;
  };
  const literal = (word: string): void => {
    i++; // its first letter, already seen
    for (let k = 1; k < word.length; k++) {
      const b = peek();
      if (b !== word.charCodeAt(k)) bad(b, `in literal ${word} (expecting '${word[k]}')`);
      i++;
    }
  };
  const string = (): void => {
    i++; // the opening quote
    for (;;) {
      const b = peek();
      i++;
      if (b === 0x22) return;
      if (b < 0x20) bad(b, 'in string literal');
      if (b === 0x5c) {
        const e = peek();
        i++;
        if (e === 0x75) {
          for (let k = 0; k < 4; k++) {
            const h = peek();
            if (!/[0-9a-fA-F]/.test(String.fromCharCode(h))) bad(h, 'in \\u hexadecimal character escape');
            i++;
          }
        } else if (!'bfnrt\\/"'.includes(String.fromCharCode(e))) {
          bad(e, 'in string escape code');
        }
      }
    }
  };
  // A number ends at the first byte that cannot continue it; at the very end of the input it is complete.
  const number = (): void => {
    const more = (): number | undefined => (i < n ? buf[i] : undefined);
    if (buf[i] === 0x2d) {
      i++;
      const b = peek();
      if (!isDigit(b)) bad(b, 'in numeric literal');
    }
    if (buf[i] === 0x30) i++;
    else while (more() !== undefined && isDigit(more()!)) i++;
    if (more() === 0x2e) {
      i++;
      const b = peek();
      if (!isDigit(b)) bad(b, 'after decimal point in numeric literal');
      while (more() !== undefined && isDigit(more()!)) i++;
    }
    if (more() === 0x65 || more() === 0x45) {
      i++;
      if (peek() === 0x2b || peek() === 0x2d) i++;
      const b = peek();
      if (!isDigit(b)) bad(b, 'in exponent of numeric literal');
      while (more() !== undefined && isDigit(more()!)) i++;
    }
  };
  // Iterative (a stack of open brackets), so deep nesting costs no call stack; Go stops past 10000 levels.
  const value = (): void => {
    const open: number[] = [];
    let mode: 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'after' = 'value';
    const push = (b: number): void => {
      i++;
      open.push(b);
      if (open.length > MAX_JSON_DEPTH) bad(b, 'exceeded max depth');
    };
    for (;;) {
      if (mode === 'after') {
        const top = open[open.length - 1];
        if (top === undefined) return;
        skip();
        const sep = peek();
        i++;
        if (sep === (top === 0x7b ? 0x7d : 0x5d)) open.pop();
        else if (sep === 0x2c) mode = top === 0x7b ? 'key' : 'value';
        else bad(sep, top === 0x7b ? 'after object key:value pair' : 'after array element');
        continue;
      }
      skip();
      const b = peek();
      if (mode === 'key' || mode === 'keyOrEnd') {
        if (mode === 'keyOrEnd' && b === 0x7d) {
          i++;
          open.pop();
          mode = 'after';
          continue;
        }
        if (b !== 0x22) bad(b, 'looking for beginning of object key string');
        string();
        skip();
        const colon = peek();
        if (colon !== 0x3a) bad(colon, 'after object key');
        i++;
        mode = 'value';
        continue;
      }
      if (mode === 'valueOrEnd' && b === 0x5d) {
        i++;
        open.pop();
        mode = 'after';
        continue;
      }
      if (b === 0x7b) {
        push(b);
        mode = 'keyOrEnd';
        continue;
      }
      if (b === 0x5b) {
        push(b);
        mode = 'valueOrEnd';
        continue;
      }
      if (b === 0x22) string();
      else if (b === 0x2d || isDigit(b)) number();
      else if (b === 0x74) literal('true');
      else if (b === 0x66) literal('false');
      else if (b === 0x6e) literal('null');
      else bad(b, 'looking for beginning of value');
      mode = 'after';
    }
  };
  skip();
  const start = i;
  try {
    if (i >= n) throw new Syntax('EOF');
    value();
    // Go's json.Decoder would stop reading here; we refuse what follows, with json.Unmarshal's text
    const end = i;
    skip();
    if (i < n) bad(buf[i]!, 'after top-level value');
    i = end;
  } catch (err) {
    if (err instanceof Syntax) throw new ApiError(400, `${prefix}${err.message}`);
    throw err;
  }
  return { start, end: i };
}

/**
 * A request body's JSON value as Go's json.Decoder reads it; errors are 400 with Go's text after `prefix`. Unlike
 * the decoder, anything but white space after the value is refused (json.Unmarshal's text).
 */
export function goDecode(body: Buffer, prefix: string): unknown {
  const { start, end } = scanValue(body, prefix);
  return JSON.parse(body.subarray(start, end).toString('utf8')) as unknown;
}

/** The JSON type of a value, as Go's unmarshal errors name it. */
function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v; // string, number, object
}

/**
 * 400 with Go's text for a value of the wrong type: at the top level (`field` undefined) or in field `field` (a
 * dotted path of JSON names) of struct `struct`.
 */
export function goTypeError(prefix: string, v: unknown, goType: string, struct?: string, field?: string): ApiError {
  const where = struct === undefined ? 'Go value' : `Go struct field ${struct}.${field}`;
  return new ApiError(400, `${prefix}json: cannot unmarshal ${jsonKind(v)} into ${where} of type ${goType}`);
}

// ---- page tokens (encoding/base64, encoding/binary) --------------------------------------------------------

const B64URL = /[A-Za-z0-9_-]/;

/**
 * Decodes padded URL-safe base64 as Go's base64.URLEncoding.DecodeString does, newlines skipped; a bad input
 * throws ApiError 400 `illegal base64 data at input byte N` with Go's N.
 */
export function goBase64Url(s: string): Buffer {
  const corrupt = (at: number): never => {
    throw new ApiError(400, `illegal base64 data at input byte ${at}`);
  };
  const isNl = (c: string | undefined): boolean => c === '\n' || c === '\r';
  const clean: string[] = [];
  let si = 0;
  while (si < s.length) {
    // one quantum of up to four characters
    let j = 0;
    let done = false;
    while (j < 4) {
      if (si === s.length) {
        if (j === 0) {
          done = true;
          break;
        }
        corrupt(si - j);
      }
      const c = s[si]!;
      si++;
      if (B64URL.test(c)) {
        clean.push(c);
        j++;
        continue;
      }
      if (isNl(c)) continue;
      if (c !== '=') corrupt(si - 1);
      if (j < 2) corrupt(si - 1);
      if (j === 2) {
        while (si < s.length && isNl(s[si])) si++;
        if (si === s.length) corrupt(s.length);
        if (s[si] !== '=') corrupt(si - 1);
        si++;
      }
      while (si < s.length && isNl(s[si])) si++;
      if (si < s.length) corrupt(si);
      done = true;
      break;
    }
    if (done) break;
  }
  return Buffer.from(clean.join('').replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** Go's binary.Read of `want` bytes from `buf`: `EOF` when empty, `unexpected EOF` when short. */
export function goReadFull(buf: Buffer, want: number): void {
  if (buf.length === 0) throw new ApiError(400, 'EOF');
  if (buf.length < want) throw new ApiError(400, 'unexpected EOF');
}
