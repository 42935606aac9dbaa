import { ProxyReason } from '../../../errors.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { PEER_IDENTITY_HEADER } from './mesh-headers.js';
import { normalizePath } from './path.js';

export interface NormalizeConfig {
  readonly direction: 'inbound' | 'outbound';
  readonly ingress: boolean;
}

/**
 * The first stage: what every later stage and the app see is decided here, once.
 * - The path is normalized (percent-decoded where safe, slashes merged, dot-segments removed;
 *   see path.ts): routes and policies match exactly what the app receives, which is what the
 *   head forwarded says. Paths that cannot be normalized safely are refused (400 invalid-path).
 * - Headers the mesh owns (mesh-headers.ts): a client's `trellis-peer-identity` never passes;
 *   inbound, the caller's verified identity is set.
 */
export class NormalizeStage implements Stage {
  constructor(
    private readonly config: NormalizeConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    if (!this.normalizeTarget(ex, handler)) return;
    if (ex.header(PEER_IDENTITY_HEADER) !== undefined) ex.editRequest().removeField(PEER_IDENTITY_HEADER);
    if (ex.peer !== null) ex.editRequest().setField(PEER_IDENTITY_HEADER, ex.peer);
    this.next.call(ex, handler);
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
      start = scheme < 0 ? target.length : target.indexOf('/', scheme + 3);
      if (start < 0) start = target.length;
      absolute = true;
    }
    const q = target.indexOf('?', start);
    const raw = q < 0 ? (start === 0 ? target : target.slice(start)) : target.slice(start, q);
    ex.query = q < 0 ? '' : target.slice(q + 1);
    const path = normalizePath(raw === '' ? '/' : raw);
    if (typeof path !== 'string') {
      handler.onLocal(ex, localReply(400, ProxyReason.InvalidPath, `invalid path: ${path.message}`));
      return false;
    }
    ex.path = path;
    if (path !== raw || absolute) ex.editRequest().target = q < 0 ? path : `${path}?${ex.query}`;
    return true;
  }
}
