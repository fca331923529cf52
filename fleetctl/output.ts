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

/** Status for stdout closed by its reader (`fleetctl ... | head -1`): what a shell shows for a SIGPIPE death. */
export const EXIT_BROKEN_PIPE = 141;

/** Why stdout failed, for fleetctl's one error line. */
export function describeWriteError(err: NodeJS.ErrnoException): string {
  return `cannot write to stdout: ${err.message.split('\n')[0]}`;
}

/**
 * The process's stdout and stderr. Every stdout write goes through here, so its first failure (a full disk, a
 * device error, the reader of a pipe gone) reaches `onStdoutError` once, which ends fleetctl (see entry.ts).
 * A failing stderr is ignored: there is nowhere left to report it.
 */
export function processOutput(onStdoutError: (err: NodeJS.ErrnoException) => void): Output {
  let failed = false;
  const fail = (err: NodeJS.ErrnoException | null | undefined): void => {
    if (!err || failed) return;
    failed = true;
    onStdoutError(err);
  };
  process.stdout.on('error', fail);
  process.stderr.on('error', () => undefined);
  const put = (text: string | Buffer): void => {
    if (failed) return;
    try {
      process.stdout.write(text, fail);
    } catch (err) {
      fail(err as NodeJS.ErrnoException);
    }
  };
  const putErr = (text: string): void => {
    try {
      process.stderr.write(text);
    } catch {
      // nowhere left to report it
    }
  };
  return {
    out: (line) => put(withNewline(line)),
    err: (line) => putErr(withNewline(line)),
    write: put,
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

/**
 * Holds lines for another Output and passes them on, in the order written, when `flush` is called: work done
 * concurrently for several units prints each unit's lines in argument order, as if done one after another.
 */
export class DeferredOutput implements Output {
  private readonly held: { to: 'out' | 'err' | 'write'; text: string | Buffer }[] = [];
  readonly isTTY: boolean;
  readonly columns?: number;
  /** `immediate`: nothing is held, every line goes to the target at once (flush has nothing to do). */
  constructor(
    private readonly target: Output,
    private readonly immediate = false,
  ) {
    this.isTTY = target.isTTY;
    if (target.columns !== undefined) this.columns = target.columns;
  }
  out(line: string): void {
    this.held.push({ to: 'out', text: line });
    if (this.immediate) this.flush();
  }
  err(line: string): void {
    this.held.push({ to: 'err', text: line });
    if (this.immediate) this.flush();
  }
  write(text: string | Buffer): void {
    this.held.push({ to: 'write', text });
    if (this.immediate) this.flush();
  }
  /** Writes what is held to the target and forgets it. */
  flush(): void {
    for (const h of this.held.splice(0)) {
      if (h.to === 'write') this.target.write(h.text);
      else this.target[h.to](h.text.toString());
    }
  }
}

/** Go's %v of a []string: `[a b c]`. */
export function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}
