/** Problems found in a document, each tied to its path (e.g. `coreos.units[2].command`) and source position. */
export type Severity = 'error' | 'warning';

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface Diagnostic {
  readonly severity: Severity;
  /** Path in the document with keys normalized to underscores; '' for the document as a whole. */
  readonly path: string;
  readonly message: string;
  readonly position?: Position;
}

/** `path: message`, or just the message when it concerns the whole document. */
export function formatDiagnostic(d: Diagnostic): string {
  return d.path === '' ? d.message : `${d.path}: ${d.message}`;
}

/** One line for a terminal: `error: path: message (line L, column C)`. */
export function formatDiagnosticLine(d: Diagnostic): string {
  const where = d.position ? ` (line ${d.position.line}, column ${d.position.column})` : '';
  return `${d.severity}: ${formatDiagnostic(d)}${where}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

export function errorsOf(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return diagnostics.filter((d) => d.severity === 'error');
}

export function warningsOf(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return diagnostics.filter((d) => d.severity === 'warning');
}

/** Collects diagnostics while a document is walked. */
export class DiagnosticSink {
  readonly items: Diagnostic[] = [];

  error(path: string, message: string, position?: Position): void {
    this.items.push({ severity: 'error', path, message, ...(position ? { position } : {}) });
  }

  warning(path: string, message: string, position?: Position): void {
    this.items.push({ severity: 'warning', path, message, ...(position ? { position } : {}) });
  }
}
