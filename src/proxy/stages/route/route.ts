import { ProxyReason } from '../../../errors.js';
import type { ClusterTable } from '../../cluster/cluster-table.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { pickBackend } from '../../routing/backend.js';
import { redirectLocation, rewritePath } from '../../routing/rewrite.js';
import type { RouteMatch } from '../../routing/types.js';

export interface RouteConfig {
  readonly clusters: ClusterTable;
  /** The service this listener reaches (its cluster: the GAMMA parent of its routes). */
  readonly parent: string;
  readonly random: () => number;
}

/**
 * Routes (HTTPRoute/GRPCRoute attached to the listener's service) on the caller's side, as
 * GAMMA meshes do: the matching rule (Gateway API precedence, on the normalized path) decides
 * the backend (weighted), the request and response header edits and URL rewrite, or answers
 * locally (redirect, no route, no backend). Without routes every request goes to the parent.
 * Later stages read the rule (`ex.rule`) for faults, timeouts, retries and mirrors.
 *
 * CONNECT opens a raw tunnel to whatever the upstream connects to; it is forwarded only when a
 * route match names the CONNECT method explicitly, and refused (405) otherwise.
 */
export class RouteStage implements Stage {
  constructor(
    private readonly config: RouteConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const { clusters, parent } = this.config;
    const table = clusters.get(parent)?.routes ?? null;
    if (table === null) {
      if (ex.method === 'CONNECT') {
        handler.onLocal(ex, localReply(405, ProxyReason.ConnectRefused, `CONNECT is not allowed: no route of ${parent} allows it`));
        return;
      }
      ex.backend = parent;
      this.next.call(ex, handler);
      return;
    }
    const match = table.routeNormalized(ex.method, ex.path, ex.query, ex.host, ex.headers);
    if (match === null) {
      handler.onLocal(ex, localReply(404, ProxyReason.NoRoute, `no route of ${parent} matches ${ex.method} ${shortPath(ex.path)}`));
      return;
    }
    if (ex.method === 'CONNECT' && match.method !== 'CONNECT') {
      handler.onLocal(ex, localReply(405, ProxyReason.ConnectRefused, `CONNECT is not allowed: route ${match.route} does not name the CONNECT method`));
      return;
    }
    ex.rule = match.rule;
    ex.route = match.route;
    const filters = match.filters;
    if (filters.redirect !== undefined) {
      const target = ex.query === '' ? ex.path : `${ex.path}?${ex.query}`;
      const location = redirectLocation(target, ex.host, filters.redirect, match);
      handler.onLocal(ex, localReply(filters.redirect.statusCode, ProxyReason.Redirect, `redirected to ${location}`, ['location', location]));
      return;
    }
    const backend = pickBackend(match.rule, this.config.random);
    if (backend === null || !backend.valid) {
      const why = backend === null ? 'has no backend with weight' : `sends to ${backend.cluster}, which is not a known service`;
      handler.onLocal(ex, localReply(500, ProxyReason.NoBackend, `route ${match.route} rule ${match.rule.index} ${why}`));
      return;
    }
    ex.backend = backend.cluster;
    this.edit(ex, match);
    this.next.call(ex, handler);
  }

  /** The rule's header modifiers and URL rewrite, as edits the codecs apply when they write. */
  private edit(ex: Exchange, match: RouteMatch): void {
    const f = match.filters;
    if (f.requestHeaders !== undefined) ex.editRequest().applyModifier(f.requestHeaders, true);
    if (f.rewrite !== undefined) {
      const rw = f.rewrite;
      const edits = ex.editRequest();
      if (rw.path !== undefined) {
        const path = rewritePath(ex.path, rw.path, match.matchedPrefix);
        edits.target = ex.query === '' ? path : `${path}?${ex.query}`;
      }
      if (rw.hostname !== undefined) edits.authority = rw.hostname;
    }
    if (f.responseHeaders !== undefined) ex.editResponse().applyModifier(f.responseHeaders, false);
  }
}

function shortPath(p: string): string {
  return p.length > 200 ? `${p.slice(0, 200)}...` : p;
}
