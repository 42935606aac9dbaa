import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Bearer secrets: `<id>.<secret>`, the id 16 hex digits (public: it names the stored record,
 * shows in `token list` and logs), the secret 32 random bytes in base64url (43 characters).
 * Only sha256(secret) is stored. The shape follows kubeadm's bootstrap tokens (`id.secret`),
 * with a longer secret since these also serve as long-lived API tokens.
 */
export interface SecretToken {
  id: string;
  secret: string;
  /** What the holder presents: `<id>.<secret>`. */
  text: string;
}

const TOKEN_RE = /^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export function newSecretToken(random: (n: number) => Buffer = randomBytes): SecretToken {
  const id = random(8).toString('hex');
  const secret = random(32).toString('base64url');
  return { id, secret, text: `${id}.${secret}` };
}

/** `<id>.<secret>` split, or null when it is not of that shape (nothing else is looked up). */
export function parseSecretToken(text: string): { id: string; secret: string } | null {
  const m = TOKEN_RE.exec(text.trim());
  return m === null ? null : { id: m[1] as string, secret: m[2] as string };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Does `secret` hash to `hashHex`? Compared in constant time. */
export function secretMatches(hashHex: string, secret: string): boolean {
  const want = Buffer.from(hashHex, 'hex');
  const got = createHash('sha256').update(secret, 'utf8').digest();
  return want.length === got.length && timingSafeEqual(want, got);
}
