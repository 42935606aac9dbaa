import { request } from 'undici';
import { API_PREFIX } from '../api/registry.js';
import { TrellisError } from '../errors.js';
import { unauthorizedHint, type ControlPlaneConnection } from './credentials.js';

export { controlPlaneUrl, DEFAULT_CONTROL_PLANE } from './control-plane-address.js';
export { connectControlPlane, type ControlPlaneConnection } from './credentials.js';

/**
 * GET a JSON document; unreachable -> CONTROL_PLANE_UNREACHABLE, 404 -> NOT_FOUND, 401/403 ->
 * UNAUTHORIZED. `conn` supplies the control plane's credentials; without it (a proxy's admin
 * listener) nothing is sent.
 */
export async function getJson<T>(url: string, what = 'the control plane', conn?: ControlPlaneConnection): Promise<T> {
  let res;
  try {
    res = await request(url, { method: 'GET', headers: conn?.headers ?? {}, headersTimeout: 10_000, bodyTimeout: 10_000, ...(conn?.dispatcher !== undefined ? { dispatcher: conn.dispatcher } : {}) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `cannot reach ${what} at ${new URL(url).origin} (${e.code ?? e.message}); is \`trellis up\` running? (set --control-plane or $TRELLIS_CONTROL_PLANE)`, { cause: err });
  }
  const text = await res.body.text();
  if (res.statusCode === 404) throw new TrellisError('TRELLIS_E_NOT_FOUND', `${new URL(url).pathname}: not found`);
  if ((res.statusCode === 401 || res.statusCode === 403) && conn !== undefined) {
    throw new TrellisError('TRELLIS_E_UNAUTHORIZED', `${what} refused: ${errorMessage(text)} (${unauthorizedHint(conn, res.statusCode)})`);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `${what} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `${what} sent a response that is not JSON`, { cause: err });
  }
}

export function apiGet<T>(conn: ControlPlaneConnection, path: string): Promise<T> {
  return getJson<T>(`${conn.url}${API_PREFIX}${path}`, 'the control plane', conn);
}

/** The `error.message` of the API's JSON error body, else the text's start. */
export function errorMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === 'string') return m;
  } catch {
    // not the API's error shape
  }
  return text.slice(0, 200);
}
