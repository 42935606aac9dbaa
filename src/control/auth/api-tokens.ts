import type { ApiTokenCreated, ApiTokenRequest, ApiTokenView } from '../../api/credentials.js';
import type { CredentialStore, StoredApiToken } from '../store/credential-store.js';
import { hashSecret, newSecretToken } from './secret-token.js';

/** API tokens (role admin or read): made, listed and revoked by an admin; stored hashed. */
export class ApiTokens {
  constructor(
    private readonly store: CredentialStore,
    private readonly clock: () => number,
  ) {}

  async create(req: ApiTokenRequest): Promise<ApiTokenCreated> {
    const t = newSecretToken();
    const now = this.clock();
    const stored: StoredApiToken = {
      id: t.id,
      hash: hashSecret(t.secret),
      role: req.role,
      name: req.name,
      createdAt: now,
      expiresAt: req.ttlMs === undefined || req.ttlMs === null ? null : now + req.ttlMs,
    };
    await this.store.putApiToken(stored);
    return { ...view(stored), token: t.text };
  }

  list(): ApiTokenView[] {
    return [...this.store.apiTokens().values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id)).map(view);
  }

  delete(id: string): Promise<boolean> {
    return this.store.deleteApiToken(id);
  }
}

function view(t: StoredApiToken): ApiTokenView {
  return { id: t.id, role: t.role, name: t.name, createdAt: new Date(t.createdAt).toISOString(), expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString() };
}
