/**
 * Credentials on the REST API (docs/operations.md, "Credentials"; docs/multi-host.md,
 * "Joining a host"). Tokens are `<id>.<secret>`; only the id is ever shown again.
 *
 * POST   /api/v1/tokens                body ApiTokenRequest  -> ApiTokenCreated      (admin)
 * GET    /api/v1/tokens                -> ApiTokenView[]                              (admin)
 * DELETE /api/v1/tokens/:id            -> {deleted: id}                               (admin)
 * POST   /api/v1/join-tokens           body JoinTokenRequest -> JoinTokenCreated     (admin)
 * GET    /api/v1/join-tokens           -> JoinTokenView[]                             (admin)
 * DELETE /api/v1/join-tokens/:id       -> {deleted: id}                               (admin)
 * GET    /api/v1/hosts                 -> HostView[]                                  (admin)
 * DELETE /api/v1/hosts/:host           -> {deleted: host}  (its agent is refused from now on) (admin)
 * GET    /api/v1/ca                    -> CaBundle                                    (public)
 * POST   /api/v1/join                  body JoinRequest -> AgentCertificate  (the join token is the credential)
 * POST   /api/v1/agents/:host/certificate  body {csrPem} -> AgentCertificate  (the host's current certificate)
 */
/** What an API token may do. `admin` includes everything `read` may. */
export type ApiRole = 'admin' | 'read';

export interface ApiTokenRequest {
  role: ApiRole;
  name: string;
  /** Absent or null: never expires. */
  ttlMs?: number | null;
}

export interface ApiTokenView {
  id: string;
  role: ApiRole;
  name: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface ApiTokenCreated extends ApiTokenView {
  /** `<id>.<secret>`: shown this once. */
  token: string;
}

export interface JoinTokenRequest {
  host: string;
  ttlMs: number;
  /** `[<namespace>/]<serviceAccount>` patterns (`*` for any part); at least one. */
  serviceAccounts: string[];
  /** REST API URLs to put in the token; absent: the control plane's own advertised URLs. */
  addresses?: string[];
}

export interface JoinTokenView {
  id: string;
  host: string;
  serviceAccounts: string[];
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

export interface JoinTokenCreated extends JoinTokenView {
  /** The whole join token (encodeJoinToken): what `trellis agent --join` takes. Shown this once. */
  token: string;
  caFingerprint: string;
  addresses: string[];
}

export interface HostView {
  host: string;
  serviceAccounts: string[];
  joinedAt: string;
  tokenId: string;
}

export interface CaBundle {
  trustDomain: string;
  trustBundlePem: string[];
}

export interface JoinRequest {
  /** `<id>.<secret>` of the join token. */
  token: string;
  csrPem: string;
}

export interface AgentCertificate {
  host: string;
  /** `spiffe://<td>/agent/<host>` */
  identity: string;
  certChainPem: string[];
  trustBundlePem: string[];
  notAfter: string;
  /** The SPIFFE ID the control plane's HTTPS certificate carries. */
  controlPlaneIdentity: string;
}

/** What a join token carries: everything a new host needs, nothing else. */
export interface JoinTokenPayload {
  /** `<id>.<secret>`, spent once. */
  token: string;
  host: string;
  /** kubeadm-style discovery hash of the CA: `sha256:<hex>` (src/identity/fingerprint.ts). */
  caFingerprint: string;
  /** https:// URLs of the REST API, tried in order. */
  addresses: string[];
}

export const JOIN_TOKEN_PREFIX = 'trellis-join-1.';

/** `trellis-join-1.<base64url(JSON)>`: one word, safe to paste into a shell or a file. */
export function encodeJoinToken(p: JoinTokenPayload): string {
  return `${JOIN_TOKEN_PREFIX}${Buffer.from(JSON.stringify(p), 'utf8').toString('base64url')}`;
}

/** The payload of a join token, or a message saying what is wrong with it. */
export function decodeJoinToken(text: string): { ok: true; payload: JoinTokenPayload } | { ok: false; message: string } {
  const t = text.trim();
  if (!t.startsWith(JOIN_TOKEN_PREFIX)) return { ok: false, message: `a join token starts with "${JOIN_TOKEN_PREFIX}" (make one with \`trellis token create --host <name>\`)` };
  let p: Partial<JoinTokenPayload> | null;
  try {
    p = JSON.parse(Buffer.from(t.slice(JOIN_TOKEN_PREFIX.length), 'base64url').toString('utf8')) as Partial<JoinTokenPayload> | null;
  } catch {
    return { ok: false, message: 'the join token is damaged (not base64url JSON); copy it whole' };
  }
  if (
    p === null ||
    typeof p !== 'object' ||
    typeof p.token !== 'string' ||
    typeof p.host !== 'string' ||
    typeof p.caFingerprint !== 'string' ||
    !Array.isArray(p.addresses) ||
    p.addresses.length === 0 ||
    !p.addresses.every((a) => typeof a === 'string')
  ) {
    return { ok: false, message: 'the join token is damaged (fields token, host, caFingerprint, addresses expected); copy it whole' };
  }
  return { ok: true, payload: { token: p.token, host: p.host, caFingerprint: p.caFingerprint, addresses: [...p.addresses] } };
}
