import type { RouteRetryConfig, RouteTimeoutsConfig } from '../../api/snapshot.js';
import { DURATION_RE, durationMs } from './schema.js';

/**
 * GRPCRoute has no `retry` or `timeouts` in the Gateway API, so (as Linkerd does) they are read
 * from the route's annotations. Validated when the route is applied; compiled into every rule.
 */
export const GRPC_ANNOTATIONS = {
  codes: 'retry.trellis.dev/grpc-codes',
  attempts: 'retry.trellis.dev/attempts',
  backoff: 'retry.trellis.dev/backoff',
  request: 'timeout.trellis.dev/request',
  backendRequest: 'timeout.trellis.dev/backend-request',
} as const;

const PREFIXES = ['retry.trellis.dev/', 'timeout.trellis.dev/'];
const KNOWN = new Set<string>(Object.values(GRPC_ANNOTATIONS));

/** gRPC status code names (lower case, `-` between words) -> numbers, per grpc/doc/statuscodes.md. */
export const GRPC_CODES: Readonly<Record<string, number>> = {
  cancelled: 1,
  unknown: 2,
  'invalid-argument': 3,
  'deadline-exceeded': 4,
  'not-found': 5,
  'already-exists': 6,
  'permission-denied': 7,
  'resource-exhausted': 8,
  'failed-precondition': 9,
  aborted: 10,
  'out-of-range': 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  'data-loss': 15,
  unauthenticated: 16,
};

/** Defaults when only some retry annotations are set (the same as HTTPRoute retry's). */
export const DEFAULT_RETRY_ATTEMPTS = 1;
export const DEFAULT_RETRY_BACKOFF_MS = 25;
const MAX_ATTEMPTS = 100;

export interface GrpcRouteSettings {
  retry?: RouteRetryConfig;
  timeouts?: RouteTimeoutsConfig;
}

export type GrpcAnnotationsResult = { ok: true; settings: GrpcRouteSettings } | { ok: false; problems: { annotation: string; message: string }[] };

/** `unavailable, RESOURCE_EXHAUSTED, 4` -> [4, 8, 14]; null with the bad entry otherwise. */
function parseCodes(text: string): { codes: number[] } | { bad: string } {
  const out = new Set<number>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    const code = /^[0-9]+$/.test(entry) ? Number(entry) : GRPC_CODES[entry.toLowerCase().replace(/_/g, '-')];
    if (code === undefined || code < 1 || code > 16) return { bad: entry };
    out.add(code);
  }
  return { codes: [...out].sort((a, b) => a - b) };
}

/** Reads and checks the `retry.trellis.dev/*` and `timeout.trellis.dev/*` annotations of a GRPCRoute. */
export function grpcRouteSettings(annotations: Readonly<Record<string, string>> | undefined): GrpcAnnotationsResult {
  const a = annotations ?? {};
  const problems: { annotation: string; message: string }[] = [];
  const bad = (annotation: string, message: string): void => {
    problems.push({ annotation, message });
  };
  for (const k of Object.keys(a)) {
    if (PREFIXES.some((p) => k.startsWith(p)) && !KNOWN.has(k)) bad(k, `unknown annotation (known: ${[...KNOWN].join(', ')})`);
  }
  const duration = (key: string): number | undefined => {
    const v = a[key];
    if (v === undefined) return undefined;
    if (!DURATION_RE.test(v)) {
      bad(key, `expected a Gateway API duration such as 500ms, 10s, 1m30s, got "${v}"`);
      return undefined;
    }
    return durationMs(v);
  };

  let grpcCodes: number[] | undefined;
  const codesText = a[GRPC_ANNOTATIONS.codes];
  if (codesText !== undefined) {
    const c = parseCodes(codesText);
    if ('bad' in c) bad(GRPC_ANNOTATIONS.codes, `"${c.bad}" is not a gRPC status code: expected names such as unavailable, resource-exhausted (${Object.keys(GRPC_CODES).join(', ')}) or numbers 1-16, comma-separated`);
    else grpcCodes = c.codes;
  }
  let attempts: number | undefined;
  const attemptsText = a[GRPC_ANNOTATIONS.attempts];
  if (attemptsText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(attemptsText.trim()) || Number(attemptsText) > MAX_ATTEMPTS) bad(GRPC_ANNOTATIONS.attempts, `expected an integer 0..${MAX_ATTEMPTS}, got "${attemptsText}"`);
    else attempts = Number(attemptsText);
  }
  const backoffMs = duration(GRPC_ANNOTATIONS.backoff);
  if (codesText === undefined && (attemptsText !== undefined || a[GRPC_ANNOTATIONS.backoff] !== undefined)) {
    bad(attemptsText !== undefined ? GRPC_ANNOTATIONS.attempts : GRPC_ANNOTATIONS.backoff, `needs ${GRPC_ANNOTATIONS.codes} (which gRPC statuses are retried)`);
  }
  const requestMs = duration(GRPC_ANNOTATIONS.request);
  const backendRequestMs = duration(GRPC_ANNOTATIONS.backendRequest);
  if (requestMs !== undefined && requestMs !== 0 && backendRequestMs !== undefined && backendRequestMs > requestMs) {
    bad(GRPC_ANNOTATIONS.backendRequest, `must not be greater than ${GRPC_ANNOTATIONS.request}`);
  }
  if (problems.length > 0) return { ok: false, problems };

  const settings: GrpcRouteSettings = {};
  if (grpcCodes !== undefined) settings.retry = { codes: [], grpcCodes, attempts: attempts ?? DEFAULT_RETRY_ATTEMPTS, backoffMs: backoffMs ?? DEFAULT_RETRY_BACKOFF_MS };
  if (requestMs !== undefined || backendRequestMs !== undefined) {
    settings.timeouts = { ...(requestMs !== undefined ? { requestMs } : {}), ...(backendRequestMs !== undefined ? { backendRequestMs } : {}) };
  }
  return { ok: true, settings };
}
