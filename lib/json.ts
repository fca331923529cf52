/**
 * The two checks every decoder of stored or received JSON starts with: the registry's and the rollouts' codecs
 * (values in etcd), the API's request bodies and cloud-config's metadata documents. One place, so a decoder
 * cannot drift into accepting arrays or null where an object is meant.
 */

export type JsonObject = Record<string, unknown>;

/** A JSON object: not null, not an array. */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The parsed JSON text, or undefined when it is not JSON (callers check the shape). */
export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** The parsed JSON text when it is an object, else undefined. */
export function parseJsonObject(raw: string): JsonObject | undefined {
  const v = parseJson(raw);
  return isJsonObject(v) ? v : undefined;
}
