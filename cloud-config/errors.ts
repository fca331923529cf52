import { FleetError } from '../lib/errors.js';
import { formatDiagnostic, type Diagnostic } from './diagnostics.js';
import { describeBytes, MAX_DOCUMENT_BYTES } from './limits.js';

/** The document cannot be used: unreadable, of an unknown kind, or failing validation. */
export class InvalidDocumentError extends FleetError {
  override readonly name = 'InvalidDocumentError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    super(
      first
        ? `invalid cloud-config: ${formatDiagnostic(first)}${errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : ''}`
        : 'invalid cloud-config',
    );
  }
}

/** A step of applying a valid document failed; the message names the step (e.g. `write /etc/foo ...`). */
export class ApplyError extends FleetError {
  override readonly name = 'ApplyError';
  constructor(
    readonly description: string,
    readonly reason: string,
    /** the kind of plan step that failed */
    readonly step: string,
  ) {
    super(`${description}: ${reason}`);
  }
}

/** The document (file or stdin) is larger than MAX_DOCUMENT_BYTES; it is refused before it is parsed. */
export class DocumentTooLargeError extends FleetError {
  override readonly name = 'DocumentTooLargeError';
  constructor() {
    super(`larger than ${describeBytes(MAX_DOCUMENT_BYTES)}, the limit for a document`);
  }
}
