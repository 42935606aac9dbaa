import { request } from 'undici';
import { API_PREFIX } from '../api/registry.js';
import type { TapMessage, TapQuery } from '../api/tap.js';
import { TrellisError } from '../errors.js';
import { parseSpiffeId } from '../identity/spiffe.js';
import { parseTapQuery, tapQueryParams } from '../telemetry/tap-filter.js';
import { ndjsonLines } from '../telemetry/tap-lines.js';
import { unauthorizedHint, type ControlPlaneConnection } from './credentials.js';
import { UsageError } from './io.js';

/**
 * Opens the control plane's GET /api/v1/tap and yields its messages until the stream ends or
 * `signal` aborts (then it just returns). Unreachable -> CONTROL_PLANE_UNREACHABLE, unknown
 * workload -> NOT_FOUND, bad parameter -> USAGE, each with the server's message.
 */
export async function* tapMessages(conn: ControlPlaneConnection, query: TapQuery, workload: string | undefined, signal: AbortSignal): AsyncGenerator<TapMessage> {
  const params = tapQueryParams(query);
  if (workload !== undefined) params.set('workload', workload);
  const url = `${conn.url}${API_PREFIX}/tap?${params.toString()}`;
  let res;
  try {
    res = await request(url, { signal, headers: conn.headers, headersTimeout: 15_000, bodyTimeout: 0, ...(conn.dispatcher !== undefined ? { dispatcher: conn.dispatcher } : {}) });
  } catch (err) {
    if (signal.aborted) return;
    const e = err as NodeJS.ErrnoException;
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `cannot reach the control plane at ${new URL(url).origin} (${e.code ?? e.message}); is \`trellis up\` running? (set --control-plane or $TRELLIS_CONTROL_PLANE)`, { cause: err });
  }
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not the API's JSON error shape: show the text
    }
    if (res.statusCode === 401 || res.statusCode === 403) throw new TrellisError('TRELLIS_E_UNAUTHORIZED', `control plane refused: ${message} (${unauthorizedHint(conn, res.statusCode)})`);
    const code = res.statusCode === 404 ? 'TRELLIS_E_NOT_FOUND' : res.statusCode === 400 ? 'TRELLIS_E_USAGE' : 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE';
    throw new TrellisError(code, `control plane answered ${res.statusCode}: ${message}`);
  }
  try {
    for await (const line of ndjsonLines(res.body)) yield JSON.parse(line) as TapMessage;
  } catch (err) {
    if (signal.aborted) return;
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `tap stream broke: ${(err as Error).message}`, { cause: err });
  }
}

/** Filter flag -> tap URL parameter (src/api/tap.ts TapQuery). */
const FILTER_FLAGS: Readonly<Record<string, string>> = { direction: 'direction', method: 'method', path: 'path', status: 'status', 'grpc-status': 'grpcStatus', max: 'max' };

/**
 * The filter flags (`--direction --method --path --status --grpc-status --max`) as a TapQuery,
 * checked by the same parser the proxies use; a bad one is a usage error naming the flag.
 */
export function tapQueryFromFlags(values: Record<string, string | boolean | undefined>, usage: string): TapQuery {
  const params = new URLSearchParams();
  for (const [flag, param] of Object.entries(FILTER_FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') params.set(param, v);
  }
  const parsed = parseTapQuery(params);
  if (!parsed.ok) {
    const flag = Object.keys(FILTER_FLAGS).find((f) => FILTER_FLAGS[f] === parsed.param) ?? parsed.param;
    throw new UsageError(`--${flag}${parsed.message.slice(parsed.param.length)}`, usage);
  }
  return parsed.query;
}

/** The flags tap and top share (node:util parseArgs options). */
export const TAP_FILTER_OPTIONS = {
  direction: { type: 'string' },
  method: { type: 'string' },
  path: { type: 'string' },
  status: { type: 'string' },
  'grpc-status': { type: 'string' },
  'control-plane': { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

/** `spiffe://td/ns/default/sa/web` -> `default/web`; other strings as they are; none -> `-`. */
export function shortIdentity(identity: string | undefined): string {
  if (identity === undefined || identity === '') return '-';
  const p = parseSpiffeId(identity);
  return p === null ? identity : `${p.namespace}/${p.serviceAccount}`;
}

/** What tap and top say on stderr once the tap is live (tests wait for it). */
export function attachedLine(proxies: readonly string[], workload: string | undefined): string {
  return `tapping ${proxies.length} ${proxies.length === 1 ? 'proxy' : 'proxies'} of ${workload ?? 'the mesh'}\n`;
}
