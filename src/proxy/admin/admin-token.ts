import { createHash, timingSafeEqual } from 'node:crypto';
import { TrellisError } from '../../errors.js';

/**
 * The admin token guards the admin calls that change a proxy's state (POST /drain). The agent
 * makes a new random one for every proxy it starts (32 bytes, base64url: 43 characters) and
 * hands it over in the bootstrap file (0600); callers send `authorization: Bearer <token>`.
 * The token is never logged and never shown by GET /config.
 */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/** The bootstrap's adminToken, checked: absent means no state-changing call is accepted. */
export function checkAdminToken(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length < MIN_ADMIN_TOKEN_LENGTH || /\s/.test(value)) {
    throw new TrellisError('TRELLIS_E_CONFIG', `adminToken: expected a string of at least ${MIN_ADMIN_TOKEN_LENGTH} characters without spaces`);
  }
  return value;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * True when `header` is `Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1). Compares
 * SHA-256 digests with timingSafeEqual: equal lengths whatever was sent, so neither the
 * token's length nor the position of the first wrong character shows in the timing.
 */
export function bearerMatches(header: string | string[] | undefined, token: string | undefined): boolean {
  if (token === undefined || typeof header !== 'string') return false;
  const m = /^bearer +([^\s]+) *$/i.exec(header);
  const sent = m?.[1];
  if (sent === undefined) return false;
  return timingSafeEqual(digest(sent), digest(token));
}
