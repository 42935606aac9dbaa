import type { Logger } from 'pino';
import type { PolicyTable } from '../../policy/policy-table.js';
import type { AuthzDecision, PolicyRequest } from '../../policy/types.js';

/** A TCP connection as policies see it: a caller and a port, no request fields (authorizer.ts). */
export function tcpConnectionRequest(peer: string): PolicyRequest {
  return { peer, method: '', path: '', query: '', host: undefined, headers: [], grpc: false, tcp: true };
}

/** How a tracked connection is ended when a new policy denies it. */
export type ResetConnection = (decision: AuthzDecision) => void;

/**
 * Authorization of an opaque TCP listener, which has no request pipeline: each connection is
 * decided once its mTLS handshake has named the caller (a denied one is reset then), and every
 * open connection is decided again whenever a snapshot changes the proxy's policies. An HTTP
 * connection meets a new policy at its next request; a TCP connection has no next request, so
 * without this a connection opened before a DENY would outlive it for as long as the client
 * keeps it (a database session: days). Lives beside the authz stage because it is the same
 * decision; the listener calls it because TCP bypasses the stages.
 */
export class TcpAuthorization {
  private readonly open = new Map<object, { peer: string; reset: ResetConnection }>();
  private readonly unwatch: () => void;

  constructor(
    private readonly table: PolicyTable,
    private readonly port: string,
    private readonly logger: Logger,
  ) {
    this.unwatch = table.onCommit(() => this.recheck());
  }

  /** The decision for a new connection, counted (AUDIT matches logged and counted); null when the port has no policies. */
  decide(peer: string): AuthzDecision | null {
    const policy = this.table.get(this.port);
    if (policy === null) return null;
    const req = tcpConnectionRequest(peer);
    const d = policy.authorizer.authorize(req);
    d.counter.inc();
    const audit = policy.authorizer.audit(req);
    if (audit !== null) {
      audit.counter.inc();
      this.logger.info({ audit: audit.label, rule: audit.rule, peer, listener: this.port, allowed: d.allowed, decidedBy: d.label }, 'authorization audit');
    }
    return d;
  }

  /** Keeps an allowed connection under watch until the returned function is called (at close). */
  track(key: object, peer: string, reset: ResetConnection): () => void {
    this.open.set(key, { peer, reset });
    return () => this.open.delete(key);
  }

  /** Open connections watched (tests). */
  get size(): number {
    return this.open.size;
  }

  /** Decides every open connection again under the policies now in place; resets those denied (each denial counted). */
  recheck(): void {
    if (this.open.size === 0) return;
    const policy = this.table.get(this.port);
    if (policy === null) return;
    for (const [key, c] of [...this.open]) {
      const d = policy.authorizer.authorize(tcpConnectionRequest(c.peer));
      if (d.allowed) continue;
      d.counter.inc();
      this.open.delete(key);
      this.logger.info({ listener: this.port, peer: c.peer, policy: d.label }, 'open TCP connection reset: a new policy denies it');
      c.reset(d);
    }
  }

  close(): void {
    this.unwatch();
    this.open.clear();
  }
}
