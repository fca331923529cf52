/** Where commands write: stdout and stderr lines, as fleet's stdout()/stderr() (a newline added if missing). */
export interface Output {
  /** A line on stdout. */
  out(line: string): void;
  /** A line on stderr. */
  err(line: string): void;
  /** Raw bytes on stdout. */
  write(text: string | Buffer): void;
  /** stdout is a terminal: progress may be redrawn in place. */
  readonly isTTY: boolean;
  /** Width of the terminal, if any. */
  readonly columns?: number;
}

function withNewline(s: string): string {
  return s.endsWith('\n') ? s : s + '\n';
}

export function processOutput(): Output {
  return {
    out: (line) => void process.stdout.write(withNewline(line)),
    err: (line) => void process.stderr.write(withNewline(line)),
    write: (text) => void process.stdout.write(text),
    isTTY: process.stdout.isTTY === true,
    get columns() {
      return process.stdout.columns;
    },
  };
}

/** Collects output in memory (tests, and commands that post-process another command's output). */
export class BufferOutput implements Output {
  stdout = '';
  stderr = '';
  constructor(readonly isTTY = false, readonly columns?: number) {}
  out(line: string): void {
    this.stdout += withNewline(line);
  }
  err(line: string): void {
    this.stderr += withNewline(line);
  }
  write(text: string | Buffer): void {
    this.stdout += text.toString();
  }
}

/** Go's %v of a []string: `[a b c]`. */
export function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

/** Go's %q of a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + '"';
}
