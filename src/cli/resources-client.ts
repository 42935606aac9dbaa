import { request } from 'undici';
import { API_PREFIX } from '../api/registry.js';
import type { ResourceErrorBody, ResourceIssue } from '../api/resources.js';
import { TrellisError } from '../errors.js';
import { unauthorizedHint, type ControlPlaneConnection } from './credentials.js';

/** An answer the control plane refused: carries its field-path issues when it sent them. */
export class ResourceApiError extends TrellisError {
  constructor(
    code: TrellisError['code'],
    message: string,
    readonly issues: ResourceIssue[] = [],
  ) {
    super(code, message);
  }
}

/** A JSON call to the REST API (resources, tokens); non-2xx answers become errors with the server's message. */
export async function resourceCall<T>(conn: ControlPlaneConnection, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, opts: { body?: unknown } = {}): Promise<T> {
  const url = `${conn.url}${API_PREFIX}${path}`;
  let res;
  try {
    res = await request(url, {
      method,
      headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...conn.headers },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
      ...(conn.dispatcher !== undefined ? { dispatcher: conn.dispatcher } : {}),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `cannot reach the control plane at ${new URL(url).origin} (${e.code ?? e.message}); is \`trellis up\` running? (set --control-plane or $TRELLIS_CONTROL_PLANE)`, { cause: err });
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return parsed as T;
  const e = (parsed as ResourceErrorBody | undefined)?.error;
  const message = e?.message ?? `the control plane answered ${res.statusCode}: ${text.slice(0, 200)}`;
  if (res.statusCode === 404) throw new ResourceApiError('TRELLIS_E_NOT_FOUND', message);
  if (res.statusCode === 401 || res.statusCode === 403) throw new ResourceApiError('TRELLIS_E_UNAUTHORIZED', `${message} (${unauthorizedHint(conn, res.statusCode)})`);
  if (res.statusCode === 400 || res.statusCode === 409) throw new ResourceApiError('TRELLIS_E_CONFIG', message, e?.issues ?? []);
  throw new ResourceApiError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', message);
}
