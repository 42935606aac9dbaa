import type { ProxyStatusReport } from '../../api/push.js';
import type { ProxyView } from '../../api/registry.js';
import { normalizeSerial } from '../../identity/renewal.js';

/** How many of a node's latest certificates may renew it after they expired (see push-server). */
const RENEWABLE_SERIALS = 2;

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
  /** The certificate this control plane issued last (recorded when it signs, not when the proxy reports); serial upper-case hex. */
  issuedNotAfter: string | null;
  issuedSerial: string | null;
  /** Serials of the last RENEWABLE_SERIALS certificates issued to this node, newest first, normalized. */
  renewableSerials: string[];
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
        renewableSerials: [],
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
    // Upper-case hex, as Node prints it and proxies report it, so the view never flips case.
    s.issuedSerial = serial.toUpperCase();
    s.renewableSerials = [normalizeSerial(serial), ...s.renewableSerials].slice(0, RENEWABLE_SERIALS);
  }

  /**
   * Certificate facts: whichever of the proxy's report and the control plane's own record of
   * what it issued ends later. The report comes with hello, after each rotation and every
   * 10 s, so alone it can lag a rotation behind (at a 10 s TTL `check` saw an expired
   * certificate while the proxy served a fresh one); the record is current the moment a
   * certificate is signed. The report still wins when it is the newer one (a proxy that
   * reconnected to a restarted control plane).
   */
  static cert(s: ProxyState): { notAfter: string | null; serial: string | null } {
    const reported = s.status !== null && s.status.certNotAfter !== '' ? { notAfter: s.status.certNotAfter, serial: s.status.certSerial } : null;
    const issued = s.issuedNotAfter !== null ? { notAfter: s.issuedNotAfter, serial: s.issuedSerial } : null;
    if (reported === null) return issued ?? { notAfter: null, serial: null };
    if (issued === null) return reported;
    return Date.parse(issued.notAfter) > Date.parse(reported.notAfter) ? issued : reported;
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
      ...(s?.status?.plaintextConnections !== undefined ? { plaintextConnections: { ...s.status.plaintextConnections } } : {}),
      adminUrl: s?.status?.adminUrl ?? null,
      lastSeen: s?.lastSeen != null ? new Date(s.lastSeen).toISOString() : null,
    };
  }
}
