/**
 * Progress of blocking commands. On a terminal: one line per unit, redrawn in place while waiting and left
 * showing fleet's final message. Piped: only fleet's final lines, in the order units get there.
 */
import type { Output } from './output.js';

const CLEAR_LINE = '\x1b[2K';
const up = (n: number): string => (n > 0 ? `\x1b[${n}A` : '');

export class Progress {
  private readonly lines = new Map<string, string>();
  private readonly order: string[];
  private drawn = 0;
  private readonly live: boolean;

  constructor(
    private readonly out: Output,
    names: readonly string[],
    initial: (name: string) => string,
  ) {
    this.order = [...new Set(names)];
    this.live = out.isTTY && this.order.length > 0;
    for (const n of this.order) this.lines.set(n, initial(n));
    this.draw();
  }

  /** Replaces the waiting text of a unit (terminal only). */
  update(name: string, text: string): void {
    if (!this.live || this.lines.get(name) === text) return;
    this.lines.set(name, text);
    this.draw();
  }

  /** The unit's final line: drawn in place on a terminal, printed on stdout otherwise. */
  finish(name: string, line: string): void {
    if (!this.live) {
      this.out.out(line);
      return;
    }
    this.lines.set(name, line);
    this.draw();
  }

  private fit(text: string): string {
    const cols = this.out.columns ?? 0;
    return cols > 1 && text.length >= cols ? text.slice(0, cols - 2) + '…' : text;
  }

  private draw(): void {
    if (!this.live) return;
    let s = up(this.drawn);
    for (const n of this.order) s += `\r${CLEAR_LINE}${this.fit(this.lines.get(n)!)}\n`;
    this.drawn = this.order.length;
    this.out.write(s);
  }
}
