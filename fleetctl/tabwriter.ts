/**
 * Go's text/tabwriter as fleetctl configures it: minwidth 0, tabwidth 8, padding 1, padchar '\t', no flags.
 * Cells are tab-terminated; the last cell of a line is not part of a column. Consecutive lines that have a
 * cell in column k form a column block whose width is the widest such cell + padding, rounded up to the next
 * multiple of the tab width and emitted as tabs.
 */
const TABWIDTH = 8;
const PADDING = 1;

interface Cell {
  text: string;
  width: number;
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function padding(textWidth: number, cellWidth: number): string {
  const rounded = Math.ceil(cellWidth / TABWIDTH) * TABWIDTH;
  return '\t'.repeat(Math.ceil((rounded - textWidth) / TABWIDTH));
}

/** Formats `text` (lines of tab-separated cells) exactly as a flushed tabwriter.Writer would. */
export function tabwrite(text: string): string {
  const rawLines = text.split('\n');
  const lines: Cell[][] = rawLines.map((l) => l.split('\t').map((t) => ({ text: t, width: runeCount(t) })));
  const widths: number[] = [];
  let out = '';

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      line.forEach((c, j) => {
        out += c.text;
        if (j < widths.length && j < line.length - 1) out += padding(c.width, widths[j]!);
      });
      if (i + 1 < lines.length) out += '\n';
    }
  };

  const format = (line0In: number, line1: number): void => {
    let line0 = line0In;
    const column = widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= lines[t]!.length - 1) continue;
      writeLines(line0, t);
      line0 = t;
      let width = 0;
      for (; t < line1; t++) {
        const line = lines[t]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + PADDING);
      }
      widths.push(width);
      format(line0, t);
      widths.pop();
      line0 = t;
      t--;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out;
}

/** Rows of cells -> tabwriter output, one line per row, each ending in a newline. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  return tabwrite(rows.map((r) => r.join('\t')).join('\n') + '\n');
}
