import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { API_PREFIX } from '../api/registry.js';
import { TrellisError } from '../errors.js';
import type { Io } from './io.js';

export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:15000';

/** `--control-plane`, else $TRELLIS_CONTROL_PLANE, else `<cwd>/.trellis/control-plane.json`, else the default. */
export function controlPlaneUrl(flag: string | undefined, io: Io): string {
  if (flag !== undefined) return flag.replace(/\/+$/, '');
  const env = io.env.TRELLIS_CONTROL_PLANE;
  if (env !== undefined && env !== '') return env.replace(/\/+$/, '');
  try {
    const info = JSON.parse(readFileSync(join(io.cwd, '.trellis', 'control-plane.json'), 'utf8')) as { apiUrl?: unknown };
    if (typeof info.apiUrl === 'string') return info.apiUrl;
  } catch {
    // no local mesh
  }
  return DEFAULT_CONTROL_PLANE;
}

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
