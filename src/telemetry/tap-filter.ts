import type { TapQuery } from '../api/tap.js';
import { isFailure, parseGrpcStatus } from './tap-status.js';

/**
 * The tap query (src/api/tap.ts): parsed and validated the same way by the proxy's admin
 * `/tap` and the control plane's `/api/v1/tap`, and compiled into a matcher the proxy runs
 * on the raw record fields (so a request that matches no subscriber never becomes an event).
 */

export const TAP_MAX_LIMIT = 100_000;

export type TapQueryResult = { ok: true; query: TapQuery } | { ok: false; param: string; message: string };

const KNOWN = new Set(['direction', 'method', 'path', 'status', 'grpcStatus', 'max']);
/** An HTTP method is a token (RFC 9110 5.6.2); we only need letters, digits and a few marks. */
const METHOD = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/;
const STATUS = /^(?:[0-9]{1,3}|[1-5]xx)$/;

/**
 * Validates URL parameters into a TapQuery. `extra` names parameters the caller handles
 * itself (the control plane's `workload`); any other unknown parameter is an error, so a typo
 * never silently taps everything.
 */
export function parseTapQuery(params: URLSearchParams, extra: readonly string[] = []): TapQueryResult {
  const query: TapQuery = {};
  for (const name of params.keys()) {
    if (!KNOWN.has(name) && !extra.includes(name)) return bad(name, `unknown parameter (one of ${[...KNOWN, ...extra].join(', ')})`);
  }
  const direction = params.get('direction');
  if (direction !== null) {
    if (direction !== 'inbound' && direction !== 'outbound') return bad('direction', `must be inbound or outbound (got "${direction}")`);
    query.direction = direction;
  }
  const method = params.get('method');
  if (method !== null) {
    if (!METHOD.test(method)) return bad('method', `must be an HTTP method such as GET (got "${method}")`);
    query.method = method.toUpperCase();
  }
  const path = params.get('path');
  if (path !== null) {
    if (path === '') return bad('path', 'must not be empty (a prefix such as /api)');
    query.path = path;
  }
  const status = params.get('status');
  if (status !== null) {
    if (status !== 'failed' && (!STATUS.test(status) || (!status.endsWith('xx') && Number(status) > 599))) {
      return bad('status', `must be a status such as 503, a class such as 5xx, 0 (no response) or failed (got "${status}")`);
    }
    query.status = status;
  }
  const grpcStatus = params.get('grpcStatus');
  if (grpcStatus !== null) {
    const code = parseGrpcStatus(grpcStatus);
    if (code === undefined) return bad('grpcStatus', `must be a gRPC status code 0-16 or its name, such as 14 or unavailable (got "${grpcStatus}")`);
    query.grpcStatus = code;
  }
  const max = params.get('max');
  if (max !== null) {
    const n = /^[0-9]{1,6}$/.test(max) ? Number(max) : NaN;
    if (!(n >= 1 && n <= TAP_MAX_LIMIT)) return bad('max', `must be an integer from 1 to ${TAP_MAX_LIMIT} (got "${max}")`);
    query.max = n;
  }
  return { ok: true, query };
}

function bad(param: string, message: string): TapQueryResult {
  return { ok: false, param, message: `${param}: ${message}` };
}

/** The query as URL parameters (what the control plane forwards to each proxy). */
export function tapQueryParams(q: TapQuery): URLSearchParams {
  const p = new URLSearchParams();
  if (q.direction !== undefined) p.set('direction', q.direction);
  if (q.method !== undefined) p.set('method', q.method);
  if (q.path !== undefined) p.set('path', q.path);
  if (q.status !== undefined) p.set('status', q.status);
  if (q.grpcStatus !== undefined) p.set('grpcStatus', String(q.grpcStatus));
  if (q.max !== undefined) p.set('max', String(q.max));
  return p;
}

/** A compiled TapQuery: `matches` reads only the record's own fields, allocates nothing. */
export class TapMatcher {
  private readonly direction: string | undefined;
  private readonly method: string | undefined;
  private readonly path: string | undefined;
  /** Exact status, or -1. */
  private readonly status: number;
  /** Status class digit (5 for 5xx), or -1. */
  private readonly statusClass: number;
  /** `status=failed`. */
  private readonly failed: boolean;
  /** gRPC status code, or -1. */
  private readonly grpcStatus: number;

  constructor(q: TapQuery) {
    this.direction = q.direction;
    this.method = q.method?.toUpperCase();
    this.path = q.path;
    const s = q.status;
    this.failed = s === 'failed';
    this.status = s !== undefined && !this.failed && !s.endsWith('xx') ? Number(s) : -1;
    this.statusClass = s !== undefined && s.endsWith('xx') ? Number(s[0]) : -1;
    this.grpcStatus = q.grpcStatus ?? -1;
  }

  /** `grpcStatus`: the call's final grpc-status, undefined for anything but gRPC. */
  matches(direction: 'inbound' | 'outbound', method: string, target: string, status: number, grpcStatus?: number): boolean {
    if (this.direction !== undefined && direction !== this.direction) return false;
    if (this.method !== undefined && method.toUpperCase() !== this.method) return false;
    if (this.status >= 0 && status !== this.status) return false;
    if (this.statusClass >= 0 && Math.floor(status / 100) !== this.statusClass) return false;
    if (this.failed && !isFailure(status, grpcStatus)) return false;
    if (this.grpcStatus >= 0 && grpcStatus !== this.grpcStatus) return false;
    if (this.path !== undefined) {
      // Prefix of the target without its query string: a prefix containing '?' never matches.
      if (!target.startsWith(this.path)) return false;
      const q = target.indexOf('?');
      if (q >= 0 && q < this.path.length) return false;
    }
    return true;
  }
}
