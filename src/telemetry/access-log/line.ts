import type { AccessRecord } from './record.js';

/**
 * One access-log record as one JSON line, built by hand: this runs once per request, and
 * `JSON.stringify` of a spread object (the previous form) costs an object, its property
 * enumeration and a Date per line. The output is the same JSON: fields in a fixed order, absent
 * ones left out. Strings that need it (quotes, backslashes, control characters, surrogates)
 * go through JSON.stringify, which also writes a lone surrogate as a `\udXXX` escape, so every
 * line is valid UTF-8 JSON whatever a client sent. `durationMs` is written to the microsecond
 * (three decimals at most): printing a double in full costs more than the rest of the line.
 */
export class AccessLineFormatter {
  /** `YYYY-MM-DDTHH:MM:SS.` of `second`: one Date per second instead of one per line. */
  private second = Number.NaN;
  private prefix = '';

  format(r: AccessRecord): string {
    let s = `{"time":${this.time(r.startedAt)},"direction":${known(r.direction)},"listener":${str(r.listener)},"protocol":${known(r.protocol)}`;
    if (r.method !== undefined) s += `,"method":${str(r.method)}`;
    if (r.target !== undefined) s += `,"target":${str(r.target)}`;
    if (r.status !== undefined) s += `,"status":${num(r.status)}`;
    if (r.reason !== undefined) s += `,"reason":${str(r.reason)}`;
    if (r.peerIdentity !== undefined) s += `,"peerIdentity":${str(r.peerIdentity)}`;
    if (r.upstream !== undefined) s += `,"upstream":${str(r.upstream)}`;
    s += `,"bytesIn":${num(r.bytesIn)},"bytesOut":${num(r.bytesOut)},"durationMs":${millis(r.durationMs)}`;
    if (r.traceId !== undefined) s += `,"traceId":${str(r.traceId)}`;
    if (r.spanId !== undefined) s += `,"spanId":${str(r.spanId)}`;
    if (r.policy !== undefined) s += `,"policy":${str(r.policy)}`;
    if (r.audit !== undefined) s += `,"audit":${str(r.audit)}`;
    if (r.rateLimit !== undefined) s += `,"rateLimit":${str(r.rateLimit)}`;
    return `${s}}\n`;
  }

  /** ISO 8601 in UTC with milliseconds, quoted; `null` for a time no Date can hold. */
  private time(ms: number): string {
    const second = Math.floor(ms / 1000);
    // Four-digit years only (toISOString writes +YYYYYY outside them).
    if (!(second >= 0 && second < 253_402_300_800)) return 'null';
    if (second !== this.second) {
      this.second = second;
      this.prefix = new Date(second * 1000).toISOString().slice(0, 20);
    }
    const milli = Math.floor(ms - second * 1000);
    return `"${this.prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z"`;
  }
}

/** The closed sets (direction, protocol) quoted without an escape check. */
function known(v: string): string {
  switch (v) {
    case 'inbound':
      return '"inbound"';
    case 'outbound':
      return '"outbound"';
    case 'http':
      return '"http"';
    case 'http2':
      return '"http2"';
    case 'tcp':
      return '"tcp"';
    default:
      return str(v);
  }
}

/** What JSON must escape, plus surrogates (a lone one must become an escape). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(v: string): string {
  // A non-string from a buggy caller still makes valid JSON.
  if (typeof v !== 'string') return v === undefined || v === null ? 'null' : JSON.stringify(String(v));
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/**
 * Milliseconds rounded to the microsecond, from integers only (`12.3`, `0.045`, `7`): V8's
 * shortest-double printing was more than half of a line's cost.
 */
function millis(v: number): string {
  if (!(v >= 0 && v < 1e9)) return num(v);
  const micros = Math.round(v * 1000);
  const whole = Math.floor(micros / 1000);
  const frac = micros - whole * 1000;
  if (frac === 0) return String(whole);
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

function num(v: number): string {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : 'null';
}
