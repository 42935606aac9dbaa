/**
 * Request headers the mesh owns: which ones a listener removes from what it receives, and which
 * ones it sets itself (issue 9, part 2.6). Pure: the pipeline applies the edits.
 *
 * A header is the mesh's when the mesh sets it or an app may trust it because of the mesh:
 * - `trellis-*`: the mesh's own namespace (`trellis-peer-identity` is the caller's verified
 *   SPIFFE ID; `trellis-reason` is a response header). Nobody outside the proxies may send one.
 * - Forwarding headers: `x-forwarded-for`, `x-forwarded-proto`, `x-forwarded-host`,
 *   `x-forwarded-port`, `x-real-ip`, `forwarded` (RFC 7239). Apps and frameworks read the
 *   client's address and scheme from them (rate limits, audit logs, "is this HTTPS"
 *   redirects). At the ingress they come from the open internet: whatever a client claims is
 *   removed, and the ingress writes what it saw.
 * - `x-forwarded-client-cert` (XFCC): apps behind Envoy-based meshes read the caller's
 *   certificate from it. Trellis never sets it (the verified identity travels as
 *   `trellis-peer-identity`), so a copy that reaches an app is always forged: the ingress and the
 *   inbound listener remove it.
 *
 * Not the mesh's, passed on as received: `x-envoy-*` (Trellis neither sets nor reads them; an
 * Envoy behind Trellis treats them by its own rules) and the trace headers (`traceparent`, `b3`,
 * `x-b3-*`: a client may continue its trace; the tracer rewrites them per hop).
 *
 * What each listener does:
 * - ingress (the mesh's edge): removes `trellis-*` and every forwarding header and XFCC, then
 *   sets `x-forwarded-for: <client address>` and `x-forwarded-proto: http|https`. It replaces
 *   rather than appends: with nothing trusted in front of the ingress, the chain a client sent
 *   is a claim, not a record. `forwarded` is not set, only removed: X-Forwarded-For/-Proto are
 *   what frameworks read first, Envoy and nginx do not set `forwarded` either, and one pair of
 *   headers cannot disagree with another. `x-forwarded-host`/`-port` are not set: the Host
 *   header passes unchanged.
 * - outbound (an app calling through its sidecar): removes `trellis-*` (an app cannot speak for
 *   the mesh); forwarding headers pass, since the app is this proxy's own workload and passes on
 *   what its own ingress-facing caller told it.
 * - inbound (a peer proxy calling the app, over mTLS): removes `trellis-*` and XFCC, then sets
 *   `trellis-peer-identity: <the caller's verified SPIFFE ID>`. Forwarding headers pass: they
 *   come from a mesh member (set by the ingress or propagated by an app).
 */

export const MESH_HEADER_PREFIX = 'trellis-';
export const PEER_IDENTITY_HEADER = 'trellis-peer-identity';
export const X_FORWARDED_FOR = 'x-forwarded-for';
export const X_FORWARDED_PROTO = 'x-forwarded-proto';
export const X_FORWARDED_CLIENT_CERT = 'x-forwarded-client-cert';

/** Forwarding headers: the client's address, scheme, host and port as some proxy claims them. */
export const FORWARDING_HEADERS: ReadonlySet<string> = new Set([
  'forwarded', X_FORWARDED_FOR, X_FORWARDED_PROTO, 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip',
]);

export type ListenerRole = 'ingress' | 'outbound' | 'inbound';

/** Exact names each listener removes from received requests, besides every `trellis-*` one. */
export const REMOVED_BY_ROLE: Readonly<Record<ListenerRole, ReadonlySet<string>>> = Object.freeze({
  ingress: new Set([...FORWARDING_HEADERS, X_FORWARDED_CLIENT_CERT]),
  outbound: new Set<string>(),
  inbound: new Set([X_FORWARDED_CLIENT_CERT]),
});

/** What to do to one request's headers: remove these names (all their fields), then append `add`. */
export interface HeaderEdits {
  /** Lower-case names present in the request, each once. */
  readonly remove: readonly string[];
  /** Flat [name, value, ...] to append after removing. */
  readonly add: readonly string[];
}

/** One listener connection's policy: built once per connection, used for each of its requests. */
export interface MeshHeaderPolicy {
  readonly role: ListenerRole;
  /** Exact names removed (besides `trellis-*`). */
  readonly removed: ReadonlySet<string>;
  /** Fields this listener sets on every request. */
  readonly add: readonly string[];
  /** The edits of a request that carries nothing to remove (shared: no allocation). */
  readonly addOnly: HeaderEdits;
}

export interface ConnectionFacts {
  /** Ingress: the client's address as the socket reports it (`remoteAddress`). */
  clientAddress?: string | undefined;
  /** Ingress: the scheme the client used: `https` on a listener that terminates TLS. Default `http`. */
  proto?: 'http' | 'https';
  /** Inbound: the caller's verified SPIFFE ID ('' or undefined: not set). */
  peerIdentity?: string | undefined;
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/** `::ffff:192.0.2.1` (an IPv4 client on a dual-stack socket) as `192.0.2.1`, as apps expect it. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}

/** The policy for one connection of a listener with this role. */
export function meshHeaderPolicy(role: ListenerRole, facts: ConnectionFacts = {}): MeshHeaderPolicy {
  const add: string[] = [];
  if (role === 'ingress') {
    // No address (a socket already gone): the old value is still removed, nothing is claimed.
    if (facts.clientAddress !== undefined && facts.clientAddress !== '') add.push(X_FORWARDED_FOR, plainAddress(facts.clientAddress));
    add.push(X_FORWARDED_PROTO, facts.proto ?? 'http');
  } else if (role === 'inbound' && facts.peerIdentity !== undefined && facts.peerIdentity !== '') {
    add.push(PEER_IDENTITY_HEADER, facts.peerIdentity);
  }
  Object.freeze(add);
  return Object.freeze({
    role,
    removed: REMOVED_BY_ROLE[role],
    add,
    addOnly: Object.freeze({ remove: NO_NAMES, add }),
  });
}

/** Whether a listener with this policy removes a received field called `name` (lower case). */
export function isRemoved(policy: MeshHeaderPolicy, name: string): boolean {
  return name.startsWith(MESH_HEADER_PREFIX) || policy.removed.has(name);
}

/**
 * The edits for one request's headers (flat [name, value, ...], lower-case names). Allocates
 * only when the request carries a field to remove; otherwise returns `policy.addOnly`.
 */
export function requestHeaderEdits(policy: MeshHeaderPolicy, headers: readonly string[]): HeaderEdits {
  let remove: string[] | null = null;
  const removed = policy.removed;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    // Cheap first-letter filter: every owned name starts with t, x or f.
    const c = name.charCodeAt(0);
    if (c !== 0x74 && c !== 0x78 && c !== 0x66) continue;
    if (!(name.startsWith(MESH_HEADER_PREFIX) || removed.has(name))) continue;
    if (remove === null) remove = [name];
    else if (!remove.includes(name)) remove.push(name);
  }
  return remove === null ? policy.addOnly : { remove, add: policy.add };
}

/** The headers after the edits (a new flat array; for callers that rebuild the head). */
export function applyHeaderEdits(headers: readonly string[], edits: HeaderEdits): string[] {
  const out: string[] = [];
  const remove = edits.remove;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    if (remove.length > 0 && remove.includes(name)) continue;
    out.push(name, headers[i + 1] as string);
  }
  for (let i = 0; i < edits.add.length; i++) out.push(edits.add[i] as string);
  return out;
}
