import type { ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from '../dashboard/serve-dashboard.js';

/**
 * The dashboard's login: a browser cannot put an authorization header on the dashboard's
 * EventSource (tap) or on a link, so `GET /dashboard/?token=<token>` (the link `trellis up`
 * prints, with the state directory's read token) sets an HttpOnly, SameSite=Strict cookie and
 * redirects to /dashboard/ without the token (the URL fragment, the view, is kept by the
 * browser). authenticate() accepts the cookie for GET and HEAD only, as at most `read`.
 */
export function loginCookieName(apiPort: number): string {
  // Browsers share cookies between ports of one host: one name per API port keeps two meshes
  // on 127.0.0.1 from overwriting each other's login.
  return `trellis-token-${apiPort}`;
}

/** A year: the cookie lives as long as its token (revoking the token ends it). */
const COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/** Answers a login request; false when the URL carries no token (serve the dashboard as usual). */
export function dashboardLogin(res: ServerResponse, url: URL, o: { cookieName: string; secure: boolean; valid(token: string): boolean }): boolean {
  const token = url.searchParams.get('token');
  if (token === null) return false;
  const headers = { 'cache-control': 'no-store', 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS };
  if (!o.valid(token)) {
    res.writeHead(401, headers).end('this login link is not valid (unknown, revoked or expired token); use the dashboard= link `trellis up` printed last, or a token from `trellis token create --role read`\n');
    return true;
  }
  const cookie = `${o.cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${COOKIE_MAX_AGE_S}${o.secure ? '; Secure' : ''}`;
  res.writeHead(303, { ...headers, location: url.pathname, 'set-cookie': cookie }).end('signed in\n');
  return true;
}
