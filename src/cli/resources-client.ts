import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { API_PREFIX } from '../api/registry.js';
import type { ResourceErrorBody, ResourceIssue } from '../api/resources.js';
import { TrellisError } from '../errors.js';
import { lastResolution } from './control-plane-address.js';
import type { Io } from './io.js';

/**
 * Writes to /api/v1/resources need `authorization: Bearer <token>`: the CLI reads the token
 * from `<stateDir>/agent-token`, if that file exists. The state directory is `--state-dir`,
 * else the one that goes with where the control plane was found (the last `trellis up`'s, when
 * its per-user record gave the address), else ./.trellis.
 */
export async function readToken(stateDir: string | undefined, io: Io): Promise<string | undefined> {
  const dir = resolve(io.cwd, stateDir ?? lastResolution(io)?.stateDir ?? '.trellis');
  try {
    return (await readFile(join(dir, 'agent-token'), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

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

/** A JSON call to the resources API; non-2xx answers become errors with the server's message. */
export async function resourceCall<T>(base: string, method: 'GET' | 'PUT' | 'DELETE', path: string, opts: { body?: unknown; token?: string | undefined } = {}): Promise<T> {
  const url = `${base}${API_PREFIX}${path}`;
  let res;
  try {
    res = await request(url, {
      method,
      headers: {
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
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
  if (res.statusCode === 401) throw new ResourceApiError('TRELLIS_E_UNAUTHORIZED', `${message} (use --state-dir to point at the mesh's state directory)`);
  if (res.statusCode === 400) throw new ResourceApiError('TRELLIS_E_CONFIG', message, e?.issues ?? []);
  throw new ResourceApiError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', message);
}
