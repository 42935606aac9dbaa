import type { Logger } from 'pino';
import { ProxyReason } from '../../../errors.js';
import type { EgressTable } from '../../egress/egress-table.js';
import { egressRequest } from '../../egress/egress-request.js';
import type { EgressTarget, Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { normalizeRequestHost } from '../../routing/hosts.js';
import type { Clock } from '../../clock/clock.js';
import { UNAUTHORIZED_REPLY } from '../authz/authz.js';
import { tooManyRequests } from '../ratelimit/ratelimit.js';

export interface EgressStageConfig {
  readonly table: EgressTable;
  /** The listener's destination port. */
  readonly port: number;
  readonly mode: 'allowAny' | 'registryOnly';
  /** This proxy's SPIFFE ID: the source egress policies see. */
  readonly identity: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** registryOnly and an undeclared host (or none): one shared reply, refusing allocates nothing. */
export const EGRESS_DENIED_REPLY = localReply(403, ProxyReason.EgressDenied, 'destination not declared as an ExternalService (outbound mode registryOnly)');

/**
 * HTTP egress (listeners of mesh file `spec.outbound.ports` with protocol http): picks the
 * destination by the request's host (Host, or an absolute-form target's authority, which
 * normalize already put in `ex.host`), so an app may call the listener directly or use it as
 * its HTTP proxy. A declared ExternalService is authorized with this workload's identity as
 * the source (the same evaluator as inbound, src/proxy/policy) and becomes the request's
 * backend for metrics and tap; an undeclared host is refused in registryOnly mode and sent on
 * as asked in allowAny mode. After this stage the request goes through the same endpoint and
 * HTTP/1 client as mesh traffic, over plain TCP (EgressLeases).
 */
export class EgressStage implements Stage {
  constructor(
    private readonly config: EgressStageConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const c = this.config;
    const host = ex.host === undefined ? '' : normalizeRequestHost(ex.host);
    const entry = host === '' ? null : c.table.lookup(c.port, 'http', host);
    if (entry === null) {
      if (c.mode === 'registryOnly' || host === '') {
        handler.onLocal(ex, EGRESS_DENIED_REPLY);
        return;
      }
      ex.egress = { addresses: [{ host, port: c.port }] };
      this.next.call(ex, handler);
      return;
    }
    const policy = entry.policy;
    if (policy !== null) {
      const req = egressRequest(c.identity, host, ex);
      const d = policy.authorizer.authorize(req);
      ex.authz = d;
      d.counter.inc();
      const audit = policy.authorizer.audit(req);
      if (audit !== null) {
        ex.audit = audit;
        audit.counter.inc();
        c.logger.info({ audit: audit.label, egress: entry.label, method: ex.method, path: ex.path, allowed: d.allowed }, 'egress authorization audit');
      }
      if (!d.allowed) {
        ex.backend = entry.destination;
        handler.onLocal(ex, UNAUTHORIZED_REPLY);
        return;
      }
      // Rate limits of the ExternalService: this caller's own calls (429 rate-limited, as inbound).
      if (policy.hasRateLimits) {
        const now = c.clock.now();
        const over = policy.enforce.length > 0 ? policy.admit(req, now) : null;
        if (over !== null) {
          ex.backend = entry.destination;
          ex.rateLimit = over.label;
          handler.onLocal(ex, tooManyRequests(over, policy.waitMs, now, ex.grpc));
          return;
        }
        if (policy.shadow.length > 0) {
          const shadow = policy.shadowCheck(req, now);
          if (shadow !== null) ex.rateLimit = shadow.label;
        }
      }
    }
    ex.backend = entry.destination;
    const target: EgressTarget = { addresses: entry.config.endpoints ?? [{ host, port: c.port }] };
    ex.egress = target;
    this.next.call(ex, handler);
  }
}
