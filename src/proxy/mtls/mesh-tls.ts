import { EventEmitter } from 'node:events';
import type tls from 'node:tls';
import { createSecureContext, clientTlsOptions, secureContextOptions, serverTlsOptions, verifyPeer } from '../../identity/tls.js';
import { isInTrustDomain } from '../../identity/spiffe.js';
import type { WorkloadCredentials } from '../../identity/workload-credentials.js';
import type { Direction } from '../../telemetry/metrics.js';
import type { ClientTlsSource } from '../pool/connect.js';

export interface TlsCounters {
  tlsHandshakes: number;
  tlsFailures: number;
  peersVerified: number;
}

export interface MeshTlsEvents {
  /** Credentials or trust bundle changed: servers call setSecureContext(serverContextOptions()). */
  changed: [];
}

/**
 * The proxy's view of its identity for the data path: TLS options built from the current
 * workload credentials and trust bundle, the peer checks, and handshake counters for the
 * status report. New connections pick up rotated credentials; existing ones carry on.
 */
export class MeshTls extends EventEmitter<MeshTlsEvents> implements ClientTlsSource {
  readonly counters: TlsCounters = { tlsHandshakes: 0, tlsFailures: 0, peersVerified: 0 };
  private clientContext: tls.SecureContext | null = null;

  constructor(
    readonly credentials: WorkloadCredentials,
    private trustDomainName: string,
    private readonly onHandshake: (direction: Direction, ok: boolean) => void = () => {},
  ) {
    super();
    credentials.on('rotated', this.onRotated);
  }

  private readonly onRotated = (): void => {
    this.clientContext = null;
    this.emit('changed');
  };

  /** Stops following the credentials (the proxy is closing). */
  detach(): void {
    this.credentials.removeListener('rotated', this.onRotated);
  }

  get trustDomain(): string {
    return this.trustDomainName;
  }

  setTrustDomain(td: string): void {
    this.trustDomainName = td;
  }

  get ready(): boolean {
    return this.credentials.current !== null;
  }

  private creds(): { keyPem: string; certChainPem: string[] } {
    const c = this.credentials.current;
    if (c === null) throw new Error('no workload certificate yet');
    return c;
  }

  /** Options for tls.createServer; ALPN in preference order. */
  serverOptions(alpn: string[]): tls.TlsOptions {
    return { ...serverTlsOptions(this.creds(), this.credentials.trustBundlePem, alpn) };
  }

  /** For server.setSecureContext after a rotation. */
  serverContextOptions(): tls.SecureContextOptions {
    return secureContextOptions(this.creds(), this.credentials.trustBundlePem);
  }

  clientOptions(expectedIdentity: string, alpn: string[]): tls.ConnectionOptions {
    const opts = clientTlsOptions(this.creds(), this.credentials.trustBundlePem, expectedIdentity, alpn);
    // One SecureContext per credential generation instead of one per connection.
    this.clientContext ??= createSecureContext(this.creds(), this.credentials.trustBundlePem);
    const { key: _k, cert: _c, ca: _ca, ...rest } = opts;
    return { ...rest, secureContext: this.clientContext };
  }

  checkServer(socket: tls.TLSSocket, expectedIdentity: string): boolean {
    const id = verifyPeer(socket, (peer) => peer === expectedIdentity);
    if (id !== null) this.counters.peersVerified++;
    return id !== null;
  }

  onClientHandshake(ok: boolean): void {
    this.count('outbound', ok);
  }

  /** Server side: the verified client SPIFFE ID if it is in our trust domain, else null (counted). */
  acceptClient(socket: tls.TLSSocket): string | null {
    const id = verifyPeer(socket, (peer) => isInTrustDomain(peer, this.trustDomainName));
    this.count('inbound', id !== null);
    if (id !== null) this.counters.peersVerified++;
    return id;
  }

  /** A handshake that failed before secureConnection (tlsClientError). */
  inboundHandshakeFailed(): void {
    this.count('inbound', false);
  }

  private count(direction: Direction, ok: boolean): void {
    if (ok) this.counters.tlsHandshakes++;
    else this.counters.tlsFailures++;
    this.onHandshake(direction, ok);
  }
}
