/**
 * Which identities a joined host may run. A join token lists service-account patterns; when the
 * host joins they become its policy (StoredHostPolicy), checked on every call its agent makes:
 * a report may only hold workloads whose identity matches, and a proxy bootstrap token is only
 * issued for such an identity.
 *
 * A pattern is `<namespace>/<serviceAccount>`, either part `*` for "any"; a bare `<sa>` means
 * `default/<sa>`, a bare `*` means `*\/*`. Identities in the reserved namespace `trellis-system`
 * (the control plane's own identity is `spiffe://<td>/ns/trellis-system/sa/control-plane`) are
 * never issued to a workload, whatever the pattern: a certificate for it would let its holder
 * pose as the control plane to proxies and agents.
 */
export const RESERVED_NAMESPACE = 'trellis-system';

const SEGMENT = /^[a-zA-Z0-9._-]+$/;

function validPart(p: string): boolean {
  return p === '*' || (SEGMENT.test(p) && p !== '.' && p !== '..');
}

/** A pattern in its full `<ns>/<sa>` form, or null when it is not one. */
export function normalizeServiceAccountPattern(text: string): string | null {
  const t = text.trim();
  if (t === '*') return '*/*';
  const parts = t.split('/');
  if (parts.length === 1) return validPart(t) ? `default/${t}` : null;
  if (parts.length !== 2) return null;
  const [ns, sa] = parts as [string, string];
  if (!validPart(ns) || !validPart(sa)) return null;
  if (ns === RESERVED_NAMESPACE) return null;
  return `${ns}/${sa}`;
}

/** May a host with these patterns run namespace/serviceAccount? Never for the reserved namespace. */
export function mayRun(patterns: readonly string[], namespace: string, serviceAccount: string): boolean {
  if (namespace === RESERVED_NAMESPACE) return false;
  return patterns.some((p) => {
    const [ns, sa] = p.split('/') as [string, string];
    return (ns === '*' || ns === namespace) && (sa === '*' || sa === serviceAccount);
  });
}
