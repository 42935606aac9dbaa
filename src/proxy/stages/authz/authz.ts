import type { Logger } from 'pino';
import { ProxyReason } from '../../../errors.js';
import { GrpcStatus } from '../../grpc/grpc-status.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import type { PolicySlot } from '../../policy/policy-table.js';

export interface AuthzConfig {
  /** The port's policies, swapped by each snapshot (read once per request). */
  readonly slot: PolicySlot;
  /** Where AUDIT matches are logged. */
  readonly logger: Logger;
}

/**
 * The answer to a refused caller: 403 `unauthorized` (gRPC: PERMISSION_DENIED, trailers-only).
 * The body does not name the policy (callers may be outside the mesh, through an ingress); the
 * inbound proxy's access log, tap and metrics do. One shared object: refusing allocates nothing.
 */
export const UNAUTHORIZED_REPLY = localReply(403, ProxyReason.Unauthorized, 'access denied by authorization policy', undefined, GrpcStatus.PermissionDenied);

/**
 * Authorization on inbound listeners, after normalize (policies see the normalized path, the
 * one routes match and the app receives) and before rate limits (a refused caller takes
 * nothing from a bucket). DENY policies first, then ALLOW, then the port's explicit default
 * (src/proxy/policy/authorizer.ts); AUDIT matches are logged and counted and change nothing.
 * The decision is on the exchange for observe (access log, tap). Ports without policies
 * pass exchanges straight on.
 */
export class AuthzStage implements Stage {
  constructor(
    private readonly config: AuthzConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const policy = this.config.slot.current;
    if (policy === null) {
      this.next.call(ex, handler);
      return;
    }
    const a = policy.authorizer;
    const d = a.authorize(ex);
    ex.authz = d;
    d.counter.inc();
    if (a.hasAudit) {
      const audit = a.audit(ex);
      if (audit !== null) {
        ex.audit = audit;
        audit.counter.inc();
        this.config.logger.info(
          { audit: audit.label, rule: audit.rule, peer: ex.peer, method: ex.method, path: ex.path, allowed: d.allowed, decidedBy: d.label },
          'authorization audit',
        );
      }
    }
    if (!d.allowed) {
      handler.onLocal(ex, UNAUTHORIZED_REPLY);
      return;
    }
    this.next.call(ex, handler);
  }
}
