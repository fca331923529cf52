/**
 * The one string order of the code base: by UTF-16 code unit, like `Array.prototype.sort()` without a comparator.
 * For the ASCII of unit names and machine ids it is fleet's byte order (Go's sort.Strings), and unlike
 * `localeCompare` it does not depend on the host's locale.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
