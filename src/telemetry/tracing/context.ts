import type { IncomingHttpHeaders } from 'node:http';

/**
 * Trace context propagation: W3C Trace Context (`traceparent`, `tracestate`) and Zipkin B3
 * (multi-header `x-b3-*` and single-header `b3`).
 *
 * Hand-written rather than @opentelemetry/propagator-*: those need the OpenTelemetry context
 * API and a getter object per call; the proxy reads flat header arrays once per request and
 * must not allocate beyond the strings it returns.
 *
 * Precedence when a request carries several: a valid `traceparent`, else a valid `b3`, else
 * valid `x-b3-*`. An invalid header of one format does not hide a valid one of another.
 */

export type TraceFormat = 'w3c' | 'b3single' | 'b3multi';

/** What a request says about the trace it belongs to. */
export interface TraceContext {
  /**
   * 32 lower-hex characters (64-bit B3 ids are left-padded with zeros). Undefined when the
   * caller sent only a sampling decision (`b3: 0`, or `x-b3-sampled` alone): start a new trace
   * that honours it.
   */
  readonly traceId: string | undefined;
  /** The caller's span id (16 lower-hex): the parent of the span this hop records. */
  readonly parentSpanId: string | undefined;
  /** The caller's sampling decision; undefined = deferred (B3 without a sampled flag). */
  readonly sampled: boolean | undefined;
  /** W3C `tracestate`, passed through untouched when at most MAX_TRACESTATE_LENGTH. */
  readonly tracestate: string | undefined;
  /** Which header format the context was read from. */
  readonly format: TraceFormat;
  /**
   * The B3 form the request carried, if any, even when `traceparent` won: a hop that got both
   * (from an earlier proxy) writes both again, so B3-only apps further on keep the trace.
   */
  readonly b3Format?: 'b3single' | 'b3multi' | undefined;
}

/** The trace a hop belongs to, as written on the forwarded request. */
export interface OutgoingTraceContext {
  readonly traceId: string;
  /** Parent of `spanId` (only B3 multi-header carries it). */
  readonly parentSpanId?: string | undefined;
  readonly sampled: boolean;
  readonly tracestate?: string | undefined;
}

/**
 * W3C allows dropping a `tracestate` over 512 characters; we drop it whole (rather than
 * trimming entries) so a hostile caller cannot make us parse or forward a large value.
 */
export const MAX_TRACESTATE_LENGTH = 512;

/** Every header this module reads or writes: strip these before adding `inject`'s output. */
export const TRACE_HEADERS: ReadonlySet<string> = new Set([
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
]);

const ZERO_PAD_64 = '0000000000000000';

/** True when `s[from, from+len)` is lower-hex and not all '0'. */
function isNonZeroLowerHex(s: string, from: number, len: number): boolean {
  let nonZero = false;
  for (let i = from; i < from + len; i++) {
    const c = s.charCodeAt(i);
    if (c === 48) continue; // '0'
    if ((c > 48 && c <= 57) || (c >= 97 && c <= 102)) nonZero = true;
    else return false;
  }
  return nonZero;
}

function isLowerHex(s: string, from: number, len: number): boolean {
  for (let i = from; i < from + len; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

export interface Traceparent {
  readonly traceId: string;
  readonly parentId: string;
  readonly sampled: boolean;
}

/**
 * Parses a `traceparent` value (W3C Trace Context level 1, section 3.2): version 00 exactly
 * `00-<32 hex>-<16 hex>-<2 hex>`; a higher version (not ff) is read as 00 when its first 55
 * characters have that shape and anything after them starts with '-'. Lower-case only; all-zero
 * ids are invalid. Returns null when invalid (the caller then starts a new trace).
 */
export function parseTraceparent(value: string): Traceparent | null {
  const v = value.trim();
  if (v.length < 55) return null;
  if (!isLowerHex(v, 0, 2)) return null;
  const v0 = v.charCodeAt(0);
  const v1 = v.charCodeAt(1);
  if (v0 === 102 && v1 === 102) return null; // version ff is forbidden
  const isVersion00 = v0 === 48 && v1 === 48;
  if (isVersion00 ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 45) return null;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return null;
  if (!isNonZeroLowerHex(v, 3, 32) || !isNonZeroLowerHex(v, 36, 16) || !isLowerHex(v, 53, 2)) return null;
  const flags = hexValue(v.charCodeAt(54));
  return { traceId: v.slice(3, 35), parentId: v.slice(36, 52), sampled: (flags & 1) === 1 };
}

/** `00-<traceId>-<spanId>-<01|00>`. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** A B3 trace id of 16 or 32 lower-hex characters, as 32. */
function b3TraceId(s: string): string | undefined {
  if (s.length === 32) return isNonZeroLowerHex(s, 0, 32) ? s : undefined;
  if (s.length === 16) return isNonZeroLowerHex(s, 0, 16) ? ZERO_PAD_64 + s : undefined;
  return undefined;
}

function b3SpanId(s: string): string | undefined {
  return s.length === 16 && isNonZeroLowerHex(s, 0, 16) ? s : undefined;
}

/** `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]` or `b3: {0|1|d}`. */
export function parseB3Single(value: string, tracestate?: string): TraceContext | null {
  const v = value.trim();
  if (v.length === 1) {
    const sampled = b3SingleSampled(v);
    return sampled === null ? null : { traceId: undefined, parentSpanId: undefined, sampled, tracestate, format: 'b3single' };
  }
  const dash1 = v.indexOf('-');
  if (dash1 < 0) return null;
  const dash2 = v.indexOf('-', dash1 + 1);
  const traceId = b3TraceId(v.slice(0, dash1));
  const spanId = b3SpanId(dash2 < 0 ? v.slice(dash1 + 1) : v.slice(dash1 + 1, dash2));
  if (traceId === undefined || spanId === undefined) return null;
  let sampled: boolean | undefined;
  if (dash2 >= 0) {
    const dash3 = v.indexOf('-', dash2 + 1);
    const s = b3SingleSampled(dash3 < 0 ? v.slice(dash2 + 1) : v.slice(dash2 + 1, dash3));
    if (s === null) return null;
    sampled = s;
    // The parent span id is the caller's parent: not needed, but a malformed one makes the header invalid.
    if (dash3 >= 0 && b3SpanId(v.slice(dash3 + 1)) === undefined) return null;
  }
  return { traceId, parentSpanId: spanId, sampled, tracestate, format: 'b3single' };
}

/** '1' and 'd' (debug) sample, '0' does not; null = invalid. */
function b3SingleSampled(s: string): boolean | null {
  if (s === '1' || s === 'd') return true;
  if (s === '0') return false;
  return null;
}

/** `x-b3-sampled`: '1'/'0', and the legacy 'true'/'false'; null = invalid. */
function b3MultiSampled(s: string): boolean | null {
  if (s === '1' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  return null;
}

/** Header values this module reads, gathered in one pass. */
interface Gathered {
  traceparent: string | undefined;
  traceparentCount: number;
  tracestate: string | undefined;
  b3: string | undefined;
  traceId: string | undefined;
  spanId: string | undefined;
  sampled: string | undefined;
  flags: string | undefined;
}

function decide(g: Gathered): TraceContext | null {
  // Several traceparent fields cannot be combined: W3C says treat as invalid.
  if (g.traceparent !== undefined && g.traceparentCount === 1) {
    const tp = parseTraceparent(g.traceparent);
    if (tp !== null) {
      const ts = g.tracestate !== undefined && g.tracestate.length <= MAX_TRACESTATE_LENGTH ? g.tracestate : undefined;
      const b3Format = g.b3 !== undefined ? 'b3single' : g.traceId !== undefined || g.sampled !== undefined || g.flags !== undefined ? 'b3multi' : undefined;
      return { traceId: tp.traceId, parentSpanId: tp.parentId, sampled: tp.sampled, tracestate: ts, format: 'w3c', b3Format };
    }
  }
  if (g.b3 !== undefined) {
    const ctx = parseB3Single(g.b3);
    if (ctx !== null) return ctx;
  }
  return b3Multi(g);
}

function b3Multi(g: Gathered): TraceContext | null {
  let sampled: boolean | undefined;
  if (g.flags !== undefined && g.flags.trim() === '1') sampled = true; // debug implies sampled
  else if (g.sampled !== undefined) {
    const s = b3MultiSampled(g.sampled.trim());
    if (s === null) return null;
    sampled = s;
  }
  if (g.traceId === undefined) {
    if (g.spanId !== undefined || sampled === undefined) return null;
    return { traceId: undefined, parentSpanId: undefined, sampled, tracestate: undefined, format: 'b3multi' };
  }
  const traceId = b3TraceId(g.traceId.trim());
  const spanId = g.spanId === undefined ? undefined : b3SpanId(g.spanId.trim());
  if (traceId === undefined || spanId === undefined) return null;
  return { traceId, parentSpanId: spanId, sampled, tracestate: undefined, format: 'b3multi' };
}

function emptyGathered(): Gathered {
  return {
    traceparent: undefined,
    traceparentCount: 0,
    tracestate: undefined,
    b3: undefined,
    traceId: undefined,
    spanId: undefined,
    sampled: undefined,
    flags: undefined,
  };
}

function gather(g: Gathered, name: string, value: string): void {
  switch (name) {
    case 'traceparent':
      g.traceparent = value;
      g.traceparentCount++;
      break;
    case 'tracestate':
      // Several tracestate fields are one list (RFC 9110 field combination).
      g.tracestate = g.tracestate === undefined ? value : `${g.tracestate},${value}`;
      break;
    case 'b3':
      g.b3 = value;
      break;
    case 'x-b3-traceid':
      g.traceId = value;
      break;
    case 'x-b3-spanid':
      g.spanId = value;
      break;
    case 'x-b3-sampled':
      g.sampled = value;
      break;
    case 'x-b3-flags':
      g.flags = value;
      break;
  }
}

/**
 * The trace context of a request, from flat `[name, value, ...]` headers with lower-cased
 * names (what both forwarders have). Null when the request carries none that is valid.
 */
export function extract(headers: readonly string[]): TraceContext | null {
  let g: Gathered | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!;
    // Cheap pre-filter: every trace header starts with 't', 'b' or 'x'.
    const c = name.charCodeAt(0);
    if (c !== 116 && c !== 98 && c !== 120) continue;
    if (!TRACE_HEADERS.has(name)) continue;
    g ??= emptyGathered();
    gather(g, name, headers[i + 1]!);
  }
  return g === undefined ? null : decide(g);
}

/** `extract` for node's header objects (http2 streams, node:http servers). */
export function extractFromRecord(headers: IncomingHttpHeaders): TraceContext | null {
  let g: Gathered | undefined;
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    g ??= emptyGathered();
    if (typeof value === 'string') gather(g, name, value);
    else for (const v of value) gather(g, name, v);
  }
  return g === undefined ? null : decide(g);
}

/**
 * Formats to write on a forwarded request: always W3C, plus the B3 form the caller used so
 * that B3-only and W3C-only next hops both continue the trace.
 */
export function formatsFor(incoming: TraceContext | null): readonly TraceFormat[] {
  if (incoming === null) return W3C_ONLY;
  const b3 = incoming.format === 'w3c' ? incoming.b3Format : incoming.format;
  if (b3 === 'b3single') return W3C_B3_SINGLE;
  if (b3 === 'b3multi') return W3C_B3_MULTI;
  return W3C_ONLY;
}
const W3C_ONLY: readonly TraceFormat[] = ['w3c'];
const W3C_B3_SINGLE: readonly TraceFormat[] = ['w3c', 'b3single'];
const W3C_B3_MULTI: readonly TraceFormat[] = ['w3c', 'b3multi'];

/**
 * Headers that carry `ctx` to the next hop, whose parent is `spanId` (this hop's span): flat
 * `[name, value, ...]`. Remove TRACE_HEADERS from the request before adding them.
 */
export function inject(ctx: OutgoingTraceContext, spanId: string, formats: readonly TraceFormat[] = W3C_ONLY): string[] {
  const out: string[] = [];
  for (const format of formats) {
    if (format === 'w3c') {
      out.push('traceparent', formatTraceparent(ctx.traceId, spanId, ctx.sampled));
      if (ctx.tracestate !== undefined && ctx.tracestate !== '') out.push('tracestate', ctx.tracestate);
    } else if (format === 'b3single') {
      const parent = ctx.parentSpanId === undefined ? '' : `-${ctx.parentSpanId}`;
      out.push('b3', `${ctx.traceId}-${spanId}-${ctx.sampled ? '1' : '0'}${parent}`);
    } else {
      out.push('x-b3-traceid', ctx.traceId, 'x-b3-spanid', spanId);
      if (ctx.parentSpanId !== undefined) out.push('x-b3-parentspanid', ctx.parentSpanId);
      out.push('x-b3-sampled', ctx.sampled ? '1' : '0');
    }
  }
  return out;
}
