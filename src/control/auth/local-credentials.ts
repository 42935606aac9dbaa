import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiRole } from '../../api/credentials.js';
import { writeAtomic } from '../../identity/ca.js';
import type { CredentialStore } from '../store/credential-store.js';
import { hashSecret, newSecretToken, parseSecretToken, secretMatches } from './secret-token.js';

/** The local API tokens a control plane keeps in its state directory (0600) for its own user. */
export const LOCAL_TOKEN_FILES: Readonly<Record<ApiRole, string>> = { admin: 'admin-token', read: 'read-token' };

export function localTokenPath(stateDir: string, role: ApiRole): string {
  return join(stateDir, LOCAL_TOKEN_FILES[role]);
}

/**
 * The token in `<stateDir>/<admin|read>-token`, valid in the store: the one already there when
 * the store knows it (same id and hash, same role), else a new one (stored, then written 0600).
 * A token deleted from the store (revoked) is never brought back from its file: the next start
 * writes a new one. This is how `trellis up` needs no ceremony: the CLI reads the admin token
 * from the state directory it finds (src/cli/credentials.ts), the dashboard link carries the
 * read token.
 */
export async function ensureLocalToken(store: CredentialStore, stateDir: string, role: ApiRole, clock: () => number): Promise<string> {
  const path = localTokenPath(stateDir, role);
  let text: string | null = null;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const parsed = text === null ? null : parseSecretToken(text);
  const stored = parsed === null ? undefined : store.apiTokens().get(parsed.id);
  if (parsed !== null && stored !== undefined && stored.role === role && stored.expiresAt === null && secretMatches(stored.hash, parsed.secret)) {
    return text as string;
  }
  const t = newSecretToken();
  await store.putApiToken({ id: t.id, hash: hashSecret(t.secret), role, name: `local ${role} (${path})`, createdAt: clock(), expiresAt: null });
  await writeAtomic(path, `${t.text}\n`, 0o600);
  return t.text;
}
