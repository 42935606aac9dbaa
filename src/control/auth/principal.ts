import type { ApiRole } from '../store/credential-store.js';

/**
 * Who made an API request, as authenticate() found out. Nothing here grants anything by itself:
 * access.ts decides what each kind may do.
 */
export type Principal =
  | { kind: 'anonymous'; /** Why a presented credential was not accepted (shown in the 401). */ refused?: string }
  /** An API token. `via: 'cookie'` (the dashboard's login) is held to `read` whatever the token's role. */
  | { kind: 'token'; role: ApiRole; tokenId: string; name: string; via: 'header' | 'cookie' }
  /** The state directory's agent-token: an agent on the control plane's own host (`trellis up`). */
  | { kind: 'local-agent' }
  /** A joined host's agent, by its client certificate `spiffe://<td>/agent/<host>`. */
  | { kind: 'host-agent'; host: string };

/** What a route needs (the table in src/control/api/routes.ts; docs/operations.md lists it). */
export type Access =
  /** Anyone who can reach the port: health, the CA bundle, the dashboard's static files, OTLP spans. */
  | 'public'
  /** No credential; the body carries a join token, spent once (POST /api/v1/join). */
  | 'join-token'
  /** An API token with role read or admin (or the dashboard's login cookie). */
  | 'read'
  /** An API token with role admin, in the authorization header. */
  | 'admin'
  /** An agent: the local agent-token or a joined host's certificate (each handler limits a host to itself). */
  | 'agent'
  /** A joined host's own certificate, current or expired within the grace period (the handler checks it: renewal). */
  | 'agent-certificate';

export type AccessDecision = { ok: true } | { ok: false; status: 401 | 403; message: string };

function describe(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'no credential';
    case 'token':
      return p.via === 'cookie' ? `the dashboard login of token ${p.tokenId} (read only)` : `${p.role} token ${p.tokenId} (${p.name})`;
    case 'local-agent':
      return 'the agent token';
    case 'host-agent':
      return `the agent certificate of host ${p.host}`;
  }
}

/** The role a principal holds for read/admin routes; null for agents and anonymous callers. */
export function roleOf(p: Principal): ApiRole | null {
  if (p.kind !== 'token') return null;
  return p.via === 'cookie' ? 'read' : p.role;
}

/**
 * May `p` use a route that needs `access`? 401 when no (acceptable) credential came, 403 when
 * one did but it is not enough.
 */
export function decideAccess(access: Access, p: Principal): AccessDecision {
  if (access === 'public' || access === 'join-token' || access === 'agent-certificate') return { ok: true };
  if (p.kind === 'anonymous') {
    const need = access === 'agent' ? 'an agent credential' : access === 'admin' ? 'an admin token' : 'a read or admin token';
    const why = p.refused !== undefined ? `${p.refused}; ` : '';
    return { ok: false, status: 401, message: `${why}this needs ${need} (authorization: Bearer <token>; see docs/operations.md, "Credentials")` };
  }
  const role = roleOf(p);
  switch (access) {
    case 'read':
      if (role !== null) return { ok: true };
      break;
    case 'admin':
      if (role === 'admin') return { ok: true };
      break;
    case 'agent':
      if (p.kind === 'local-agent' || p.kind === 'host-agent') return { ok: true };
      break;
  }
  const need = access === 'agent' ? 'an agent credential' : access === 'admin' ? 'an admin token' : 'a read or admin token';
  return { ok: false, status: 403, message: `${describe(p)} may not do this: it needs ${need}` };
}
