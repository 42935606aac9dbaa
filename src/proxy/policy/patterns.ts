import { isPathRefusal, normalizePath } from '../stages/normalize/path.js';
import { globProblem } from './glob.js';

/**
 * Checks of policy values shared by the resource schemas (at apply time) and the proxy (at
 * snapshot time), so a value accepted by `trellis apply` is one every proxy accepts.
 */

/** Lower-case header names (RFC 9110 tokens). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** HTTP methods are case-sensitive tokens (RFC 9110 §9.1). */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Port names are DNS labels (the mesh file's). */
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A path pattern: exact, `/a/*`, `/a*`, `*.json`, `*`. The fixed part must be written as the
 * normalize stage writes paths (dot-segments removed, one slash at a time, unreserved
 * characters not escaped, other escapes in upper case): policies compare normalized paths, so a
 * pattern in any other spelling would never match and is refused rather than silently dead.
 */
export function pathPatternProblem(pattern: string): string | undefined {
  const g = globProblem(pattern);
  if (g !== undefined) return g;
  if (pattern === '*') return undefined;
  if (pattern.startsWith('*')) return normalizedProblem(`/x${pattern.slice(1)}`);
  if (!pattern.startsWith('/')) return 'must start with "/" or "*"';
  const fixed = pattern.endsWith('/*') ? pattern.slice(0, -1) : pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
  return normalizedProblem(fixed);
}

function normalizedProblem(path: string): string | undefined {
  const n = normalizePath(path);
  if (isPathRefusal(n)) return `no request path can match: ${n.message}`;
  if (n !== path) return `no normalized request path can match: write it as the proxy normalizes paths ("${path}" becomes "${n}")`;
  return undefined;
}

/** A value pattern (principals, namespaces, header values, gRPC names): exact or one leading or trailing `*`. */
export function valuePatternProblem(pattern: string): string | undefined {
  return globProblem(pattern);
}

export function headerNameProblem(name: string): string | undefined {
  if (!HEADER_NAME.test(name)) return 'expected a lower-case header name';
  if (name.startsWith('trellis-')) return 'trellis-* headers belong to the mesh (the caller\'s identity is `from.source.principals`)';
  return undefined;
}

export function methodProblem(method: string): string | undefined {
  return METHOD.test(method) ? undefined : 'expected an HTTP method (a token such as GET)';
}

export function portNameProblem(name: string): string | undefined {
  return PORT_NAME.test(name) ? undefined : 'expected a port name (a lower-case DNS label, as in the mesh file)';
}

/** Largest rate and burst accepted (a limit past these is no limit). */
export const MAX_RATE = 1_000_000;

export function rateProblem(requestsPerSecond: unknown, burst: unknown): { field: 'requestsPerSecond' | 'burst'; message: string } | undefined {
  if (typeof requestsPerSecond !== 'number' || !Number.isFinite(requestsPerSecond) || requestsPerSecond <= 0 || requestsPerSecond > MAX_RATE) {
    return { field: 'requestsPerSecond', message: `expected a number above 0 and at most ${MAX_RATE}` };
  }
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || burst > MAX_RATE) {
    return { field: 'burst', message: `expected an integer from 1 to ${MAX_RATE}` };
  }
  return undefined;
}
