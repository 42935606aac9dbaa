import type { ProxyStatusReport } from '../../api/push.js';
import type { ProxyView } from '../../api/registry.js';

/** What the control plane knows about one proxy's push connection. */
export interface ProxyState {
  nodeId: string;
  identity: string;
  connected: boolean;
  /** Last version sent on the stream. */
  sentVersion: number | null;
  ackedVersion: number | null;
  nack: { version: number; error: string } | null;
  status: ProxyStatusReport | null;
  /** From the certificate this control plane issued last, when the proxy has not reported yet. */
  issuedNotAfter: string | null;
  issuedSerial: string | null;
  lastSeen: number | null;
}

/** Per-proxy connection, version and status bookkeeping behind GET /proxies and the checks. */
export class ProxyTracker {
  private readonly states = new Map<string, ProxyState>();

  get(nodeId: string): ProxyState | undefined {
    return this.states.get(nodeId);
  }

  all(): ProxyState[] {
    return [...this.states.values()];
  }

  ensure(nodeId: string, identity: string): ProxyState {
    let s = this.states.get(nodeId);
    if (s === undefined) {
      s = {
        nodeId,
        identity,
        connected: false,
        sentVersion: null,
        ackedVersion: null,
        nack: null,
        status: null,
        issuedNotAfter: null,
        issuedSerial: null,
        lastSeen: null,
      };
      this.states.set(nodeId, s);
    }
    s.identity = identity;
    return s;
  }

  issued(nodeId: string, identity: string, notAfter: Date, serial: string): void {
    const s = this.ensure(nodeId, identity);
    s.issuedNotAfter = notAfter.toISOString();
    s.issuedSerial = serial;
  }

  /** Certificate facts: the proxy's own report wins over what was issued. */
  static cert(s: ProxyState): { notAfter: string | null; serial: string | null } {
    return { notAfter: s.status?.certNotAfter ?? s.issuedNotAfter, serial: s.status?.certSerial ?? s.issuedSerial };
  }

  view(nodeId: string, identity: string, compiledVersion: number | null): ProxyView {
    const s = this.states.get(nodeId);
    const cert = s !== undefined ? ProxyTracker.cert(s) : { notAfter: null, serial: null };
    return {
      nodeId,
      identity,
      connected: s?.connected ?? false,
      version: compiledVersion,
      ackedVersion: s?.ackedVersion ?? null,
      nack: s?.nack ?? null,
      certNotAfter: cert.notAfter,
      certSerial: cert.serial,
      tlsHandshakes: s?.status?.tlsHandshakes ?? 0,
      tlsFailures: s?.status?.tlsFailures ?? 0,
      peersVerified: s?.status?.peersVerified ?? 0,
      adminUrl: s?.status?.adminUrl ?? null,
      lastSeen: s?.lastSeen != null ? new Date(s.lastSeen).toISOString() : null,
    };
  }
}
