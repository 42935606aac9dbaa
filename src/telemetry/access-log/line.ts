import type { AccessRecord } from './record.js';

/**
 * One access-log record as one JSON line, built by hand: this runs once per request, and
 * `JSON.stringify` of a spread object (the previous form) costs an object, its property
 * enumeration and a Date per line. The output is the same JSON: fields in a fixed order, absent
 * ones left out. Strings that need it (quotes, backslashes, control characters, surrogates)
 * go through JSON.stringify, which also writes a lone surrogate as a `\udXXX` escape, so every
 * line is valid UTF-8 JSON whatever a client sent.
 */
export class AccessLineFormatter {
  /** `YYYY-MM-DDTHH:MM:SS.` of `second`: one Date per second instead of one per line. */
  private second = Number.NaN;
  private prefix = '';

  format(r: AccessRecord): string {
    let s = `{"time":${this.time(r.startedAt)},"direction":${str(r.direction)},"listener":${str(r.listener)},"protocol":${str(r.protocol)}`;
    if (r.method !== undefined) s += `,"method":${str(r.method)}`;
    if (r.target !== undefined) s += `,"target":${str(r.target)}`;
    if (r.status !== undefined) s += `,"status":${num(r.status)}`;
    if (r.reason !== undefined) s += `,"reason":${str(r.reason)}`;
    if (r.peerIdentity !== undefined) s += `,"peerIdentity":${str(r.peerIdentity)}`;
    if (r.upstream !== undefined) s += `,"upstream":${str(r.upstream)}`;
    s += `,"bytesIn":${num(r.bytesIn)},"bytesOut":${num(r.bytesOut)},"durationMs":${num(r.durationMs)}`;
    if (r.traceId !== undefined) s += `,"traceId":${str(r.traceId)}`;
    if (r.spanId !== undefined) s += `,"spanId":${str(r.spanId)}`;
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

/** What JSON must escape, plus surrogates (a lone one must become an escape). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(v: string): string {
  // A non-string from a buggy caller still makes valid JSON.
  if (typeof v !== 'string') return v === undefined || v === null ? 'null' : JSON.stringify(String(v));
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

function num(v: number): string {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : 'null';
}
