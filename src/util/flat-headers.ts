/**
 * Headers as the forwarders hold them: a flat `[name, value, name, value, ...]` array with
 * lower-cased names (h1 as parsed, h2 flattened without pseudo-headers).
 */

/** The value of the first field called `name` (lower case), or undefined. */
export function firstHeader(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}
