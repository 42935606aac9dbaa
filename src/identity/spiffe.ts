import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';

/**
 * SPIFFE IDs as Trellis uses them: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 * Parsing follows the SPIFFE ID specification strictly (scheme lower-case `spiffe`, trust
 * domain of [a-z0-9.-_], path segments of [a-zA-Z0-9.-_] that are neither empty nor `.`/`..`,
 * no port, userinfo, query or fragment, at most 2048 bytes). Hand-written because it is a
 * security check on the handshake path; the grammar is small and fully tested.
 */
export interface SpiffeParts {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const SCHEME = 'spiffe://';
const MAX_ID_LENGTH = 2048;
const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[a-zA-Z0-9._-]+$/;

export function isValidTrustDomain(td: string): boolean {
  return td.length > 0 && td.length <= 255 && TRUST_DOMAIN_RE.test(td);
}

function isValidSegment(s: string): boolean {
  return SEGMENT_RE.test(s) && s !== '.' && s !== '..';
}

/** Builds an ID; throws a plain Error when a part would make it invalid (a programming error). */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (!isValidTrustDomain(trustDomain)) throw new Error(`invalid SPIFFE trust domain "${trustDomain}"`);
  if (!isValidSegment(namespace)) throw new Error(`invalid namespace "${namespace}" for a SPIFFE ID`);
  if (!isValidSegment(serviceAccount)) throw new Error(`invalid service account "${serviceAccount}" for a SPIFFE ID`);
  return `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** `spiffe://<td>`: the ID of a trust domain itself (carried by the root certificate). */
export function trustDomainId(trustDomain: string): string {
  if (!isValidTrustDomain(trustDomain)) throw new Error(`invalid SPIFFE trust domain "${trustDomain}"`);
  return `${SCHEME}${trustDomain}`;
}

/** Any valid SPIFFE ID, split into trust domain and path segments (empty for a trust domain ID). */
export function parseSpiffeUri(uri: string): { trustDomain: string; segments: string[] } | null {
  if (typeof uri !== 'string' || uri.length > MAX_ID_LENGTH || !uri.startsWith(SCHEME)) return null;
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const td = slash === -1 ? rest : rest.slice(0, slash);
  // Port (':'), userinfo ('@'), query ('?'), fragment ('#'), percent-encoding all fail these checks.
  if (!isValidTrustDomain(td)) return null;
  if (slash === -1) return { trustDomain: td, segments: [] };
  const segments = rest.slice(slash + 1).split('/');
  for (const s of segments) if (!isValidSegment(s)) return null;
  return { trustDomain: td, segments };
}

/** Parses a workload ID of the Trellis shape `/ns/<ns>/sa/<sa>`; null for anything else. */
export function parseSpiffeId(uri: string): SpiffeParts | null {
  const p = parseSpiffeUri(uri);
  if (p === null || p.segments.length !== 4) return null;
  const [ns, namespace, sa, serviceAccount] = p.segments as [string, string, string, string];
  if (ns !== 'ns' || sa !== 'sa') return null;
  return { trustDomain: p.trustDomain, namespace, serviceAccount };
}

/** True when `id` is a Trellis workload ID in `trustDomain`. */
export function isInTrustDomain(id: string, trustDomain: string): boolean {
  const p = parseSpiffeId(id);
  return p !== null && p.trustDomain === trustDomain;
}

/**
 * A host agent's ID: `spiffe://<td>/agent/<host>`. Its certificate authenticates the agent of
 * one joined host to the control plane's REST API (docs/multi-host.md). It is not a workload ID:
 * parseSpiffeId and isInTrustDomain refuse it, so it can neither open a push stream nor pass
 * for a service.
 */
export function agentSpiffeId(trustDomain: string, host: string): string {
  if (!isValidTrustDomain(trustDomain)) throw new Error(`invalid SPIFFE trust domain "${trustDomain}"`);
  if (!isValidSegment(host)) throw new Error(`invalid host name "${host}" for a SPIFFE ID`);
  return `${SCHEME}${trustDomain}/agent/${host}`;
}

/** A valid host name for agentSpiffeId (letters, digits, '.', '-', '_'; not '.' or '..'). */
export function isValidHostName(host: string): boolean {
  return host.length <= 253 && isValidSegment(host);
}

/** `spiffe://<td>/agent/<host>` split; null for anything else. */
export function parseAgentId(uri: string): { trustDomain: string; host: string } | null {
  const p = parseSpiffeUri(uri);
  if (p === null || p.segments.length !== 2 || p.segments[0] !== 'agent') return null;
  return { trustDomain: p.trustDomain, host: p.segments[1] as string };
}

/**
 * Splits Node's `subjectaltname` string (`URI:a, DNS:b`, values with special characters
 * are JSON-quoted since Node 17) into [type, value] pairs.
 */
export function parseSubjectAltNames(san: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon === -1) break;
    const type = san.slice(i, colon);
    let value: string;
    let j = colon + 1;
    if (san[j] === '"') {
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        value = san.slice(j, k + 1);
      }
      j = k + 1;
    } else {
      const end = san.indexOf(', ', j);
      value = end === -1 ? san.slice(j) : san.slice(j, end);
      j = end === -1 ? san.length : end;
    }
    out.push([type, value]);
    i = san.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return out;
}

/** The single URI SAN of a certificate that is a SPIFFE ID; null if there is none or several. */
export function spiffeIdOfPeer(cert: PeerCertificate | DetailedPeerCertificate | undefined | null): string | null {
  const san = cert?.subjectaltname;
  if (typeof san !== 'string' || san.length === 0) return null;
  let found: string | null = null;
  for (const [type, value] of parseSubjectAltNames(san)) {
    if (type !== 'URI' || !value.toLowerCase().startsWith(SCHEME)) continue;
    if (found !== null) return null; // several SPIFFE IDs: ambiguous, refuse
    found = value;
  }
  return found !== null && parseSpiffeUri(found) !== null ? found : null;
}
