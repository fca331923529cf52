import { FleetError } from '../lib/errors.js';

/** Something fleet-lab cannot do or found broken; the message says what and where. */
export class LabError extends FleetError {
  override readonly name: string = 'LabError';
}

/** A host command fleet-lab ran (ip, mount, nsenter, ...) failed. */
export class LabCommandError extends LabError {
  override readonly name: string = 'LabCommandError';
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`\`${command.join(' ')}\` failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || '(no output)'}`);
  }
}
