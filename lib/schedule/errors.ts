import { FleetError } from '../errors.js';

export class UnknownUnitError extends FleetError {
  override readonly name = 'UnknownUnitError';
  constructor(readonly unit: string) {
    super(`cannot explain ${unit}: no unit by that name is submitted (check the name, or submit it first)`);
  }
}
