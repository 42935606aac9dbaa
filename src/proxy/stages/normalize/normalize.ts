import { ProxyReason, REASON_HEADER } from '../../../errors.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { HeadEdits } from '../../pipeline/head-edits.js';
import { localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { meshHeaderPolicy, requestHeaderEdits } from './mesh-headers.js';
import type { ListenerRole, MeshHeaderPolicy } from './mesh-headers.js';
import { isPathRefusal, normalizePath } from './path.js';

export interface NormalizeConfig {
  readonly role: ListenerRole;
}

/** Inbound answers never carry an app's own `trellis-reason`: callers fail over on it. */
const INBOUND_RESPONSE_EDITS = HeadEdits.sharedOf((e) => e.removeField(REASON_HEADER));

/**
 * The first stage: what every later stage and the app see is decided here, once.
 * - The path is normalized (path.ts: unreserved escapes decoded, dot-segments removed, slashes
 *   merged): routes and policies match exactly what the app receives, because that is the
 *   path the forwarded head carries. Paths that cannot be normalized safely (an encoded slash
 *   or backslash, %00, a bad escape...) are refused with 400 `bad-path`.
 * - Headers the mesh owns (mesh-headers.ts): a client's `trellis-*` never passes; an ingress
 *   replaces the forwarding headers with what it saw; inbound, the caller's verified identity is
 *   set, and an app's own `trellis-reason` is removed from its answers.
 */
export class NormalizeStage implements Stage {
  /** The policy of listeners whose fixed fields do not depend on the connection. */
  private readonly plain: MeshHeaderPolicy;
  /** Inbound: one policy per calling identity (bounded by the identities in the trust domain). */
  private readonly byPeer = new Map<string, MeshHeaderPolicy>();
  /** The edits of a request that only needs the policy's fields added, shared per policy (copy on write). */
  private readonly addOnlyEdits = new WeakMap<MeshHeaderPolicy, HeadEdits>();

  constructor(
    private readonly config: NormalizeConfig,
    private readonly next: Service,
  ) {
    this.plain = meshHeaderPolicy(config.role);
  }

  call(ex: Exchange, handler: ResponseHandler): void {
    if (!this.normalizeTarget(ex, handler)) return;
    const policy = this.policyFor(ex);
    const edits = requestHeaderEdits(policy, ex.headers);
    if (edits.remove.length === 0 && ex.requestEdits === null) {
      // The common case (inbound: set the caller's identity, nothing to remove): one shared
      // object per caller instead of new edits per request.
      if (edits.add.length > 0) ex.requestEdits = this.sharedAddOnly(policy);
    } else if (edits.remove.length > 0 || edits.add.length > 0) {
      const e = ex.editRequest();
      for (let i = 0; i < edits.remove.length; i++) e.removeField(edits.remove[i] as string);
      for (let i = 0; i + 1 < edits.add.length; i += 2) e.setField(edits.add[i] as string, edits.add[i + 1] as string);
    }
    if (this.config.role === 'inbound') ex.responseEdits = INBOUND_RESPONSE_EDITS;
    this.next.call(ex, handler);
  }

  private sharedAddOnly(policy: MeshHeaderPolicy): HeadEdits {
    let e = this.addOnlyEdits.get(policy);
    if (e === undefined) {
      e = HeadEdits.sharedOf((x) => {
        for (let i = 0; i + 1 < policy.add.length; i += 2) x.setField(policy.add[i] as string, policy.add[i + 1] as string);
      });
      this.addOnlyEdits.set(policy, e);
    }
    return e;
  }

  private policyFor(ex: Exchange): MeshHeaderPolicy {
    const role = this.config.role;
    if (role === 'ingress') return meshHeaderPolicy('ingress', { clientAddress: ex.clientAddress, proto: 'http' });
    if (role !== 'inbound' || ex.peer === null) return this.plain;
    let p = this.byPeer.get(ex.peer);
    if (p === undefined) {
      p = meshHeaderPolicy('inbound', { peerIdentity: ex.peer });
      this.byPeer.set(ex.peer, p);
    }
    return p;
  }

  /** Splits the target into path and query and normalizes the path; false when refused. */
  private normalizeTarget(ex: Exchange, handler: ResponseHandler): boolean {
    const target = ex.target;
    if (ex.method === 'CONNECT' || target === '*') {
      // authority-form and asterisk-form have no path to normalize.
      ex.path = target;
      return true;
    }
    let start = 0;
    let absolute = false;
    if (target.charCodeAt(0) !== 0x2f /* / */) {
      // absolute-form (a client speaking to a proxy): only its path and query go on.
      const scheme = target.indexOf('://');
      start = scheme < 0 ? target.length : authorityEnd(target, scheme + 3);
      absolute = true;
      if (scheme >= 0) {
        // Its authority is the one the request is for, whatever Host says (RFC 9112 §3.2.2).
        const authority = target.slice(scheme + 3, start);
        ex.host = authority;
        ex.editRequest().authority = authority;
      }
    }
    const q = target.indexOf('?', start);
    const raw = q < 0 ? (start === 0 ? target : target.slice(start)) : target.slice(start, q);
    // (absolute-form without a path, `http://h?q`: the path is "/")
    ex.query = q < 0 ? '' : target.slice(q + 1);
    const path = normalizePath(raw === '' ? '/' : raw);
    if (isPathRefusal(path)) {
      handler.onLocal(ex, localReply(400, ProxyReason.BadPath, `bad path: ${path.message}`));
      return false;
    }
    ex.path = path;
    if (path !== raw || absolute) ex.editRequest().target = q < 0 ? path : `${path}?${ex.query}`;
    return true;
  }
}

/** Where an absolute-form target's authority ends: at the path's "/" or the query's "?" (RFC 3986 §3.2). */
function authorityEnd(target: string, from: number): number {
  for (let i = from; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) return i;
  }
  return target.length;
}
