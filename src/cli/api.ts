import { request } from 'undici';
import { API_PREFIX } from '../api/registry.js';
import { TrellisError } from '../errors.js';

export { controlPlaneUrl, DEFAULT_CONTROL_PLANE } from './control-plane-address.js';

/** GET a JSON document; unreachable -> CONTROL_PLANE_UNREACHABLE, 404 -> NOT_FOUND. */
export async function getJson<T>(url: string, what = 'the control plane'): Promise<T> {
  let res;
  try {
    res = await request(url, { method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `cannot reach ${what} at ${new URL(url).origin} (${e.code ?? e.message}); is \`trellis up\` running? (set --control-plane or $TRELLIS_CONTROL_PLANE)`, { cause: err });
  }
  const text = await res.body.text();
  if (res.statusCode === 404) throw new TrellisError('TRELLIS_E_NOT_FOUND', `${new URL(url).pathname}: not found`);
  if (res.statusCode < 200 || res.statusCode >= 300) throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `${what} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `${what} sent a response that is not JSON`, { cause: err });
  }
}

export function apiGet<T>(base: string, path: string): Promise<T> {
  return getJson<T>(`${base}${API_PREFIX}${path}`);
}
