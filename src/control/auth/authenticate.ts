import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { parseAgentId } from '../../identity/spiffe.js';
import { verifyPeer } from '../../identity/tls.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { Principal } from './principal.js';
import { parseSecretToken, secretMatches } from './secret-token.js';

export interface AuthenticateOptions {
  trustDomain: string;
  store: CredentialStore;
  /** The state directory's agent-token (agents on this host). */
  localAgentToken: string;
  clock: () => number;
  /** Name of the dashboard's login cookie (per API port: browsers share cookies across ports). */
  cookieName: string;
}

/**
 * Who is calling, from (in this order) a verified client certificate of a joined host's agent,
 * the authorization header (`Bearer <token>`: the agent-token or an API token), or, for GET and
 * HEAD only, the dashboard's login cookie. Cookies are never accepted for a write: a browser
 * sends them on cross-site requests too (the cookie is also SameSite=Strict; two locks). A
 * credential that does not check out leaves the caller anonymous, with the reason.
 */
export function authenticate(req: IncomingMessage, o: AuthenticateOptions): Principal {
  const socket = req.socket as Partial<TLSSocket>;
  if (socket.encrypted === true) {
    const id = verifyPeer(socket as TLSSocket, (uri) => parseAgentId(uri)?.trustDomain === o.trustDomain);
    if (id !== null) {
      const host = (parseAgentId(id) as { host: string }).host;
      // Deleting a host's policy revokes its certificate at once, before the certificate expires.
      if (o.store.hostPolicies().has(host)) return { kind: 'host-agent', host };
      return { kind: 'anonymous', refused: `host ${host} is not joined (its policy was deleted); join it again with a new token` };
    }
  }
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer +(\S+)\s*$/i.exec(header);
    if (m === null) return { kind: 'anonymous', refused: 'the authorization header is not "Bearer <token>"' };
    const text = m[1] as string;
    if (sameSecret(text, o.localAgentToken)) return { kind: 'local-agent' };
    return apiTokenPrincipal(text, 'header', o);
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const cookie = readCookie(req.headers.cookie, o.cookieName);
    if (cookie !== null) return apiTokenPrincipal(cookie, 'cookie', o);
  }
  return { kind: 'anonymous' };
}

/** What an API token's text is worth: a token principal, or anonymous with the reason. */
export function apiTokenPrincipal(text: string, via: 'header' | 'cookie', o: Pick<AuthenticateOptions, 'store' | 'clock'>): Principal {
  const parsed = parseSecretToken(text);
  const stored = parsed === null ? undefined : o.store.apiTokens().get(parsed.id);
  if (parsed === null || stored === undefined || !secretMatches(stored.hash, parsed.secret)) {
    return { kind: 'anonymous', refused: via === 'cookie' ? 'the dashboard login is not valid any more (open the login link again)' : 'unknown or revoked token' };
  }
  if (stored.expiresAt !== null && stored.expiresAt <= o.clock()) return { kind: 'anonymous', refused: `token ${stored.id} expired at ${new Date(stored.expiresAt).toISOString()}` };
  return { kind: 'token', role: stored.role, tokenId: stored.id, name: stored.name, via };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of cookie `name` in a Cookie header, or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
