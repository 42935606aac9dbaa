import https from 'node:https';
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { HostPort } from '../../api/common.js';
import { secureContextOptions, TLS_MIN_VERSION, verifyPeer } from '../../identity/tls.js';
import type { WorkloadCredentials } from '../../identity/workload-credentials.js';
import { boundPort, listenOn } from '../listeners/bind.js';
import { handleAdminRequest, type AdminSource } from './admin-server.js';

/**
 * The admin listener's read-only endpoints (/live /ready /metrics /config /tap) for a control
 * plane on another host (bootstrap `remoteAdmin`). The loopback admin listener cannot serve it:
 * the control plane's 127.0.0.1 is another machine. So this one binds the host's address and
 * speaks mTLS: the proxy's own certificate (rotated with it), a client certificate chaining to
 * the mesh trust bundle required in the handshake, and then only the control plane's SPIFFE ID
 * is answered (403 for any other workload: taps and configs are not for peers). POST /drain is
 * not served here; it stays on loopback with the admin token.
 */
export class RemoteAdminServer {
  private readonly server: https.Server;

  constructor(
    private readonly listenAt: HostPort,
    private readonly source: AdminSource,
    private readonly credentials: WorkloadCredentials,
    private readonly controlPlaneIdentity: string,
  ) {
    const creds = credentials.current;
    if (creds === null) throw new Error('remote admin listener needs the proxy\'s certificate first');
    this.server = https.createServer(
      { ...secureContextOptions(creds, credentials.trustBundlePem), requestCert: true, rejectUnauthorized: true, minVersion: TLS_MIN_VERSION },
      (req, res) => this.handle(req, res),
    );
    this.server.keepAliveTimeout = 5_000;
    // A handshake that fails (no or a foreign certificate) is the client's problem, not ours.
    this.server.on('tlsClientError', () => {});
    credentials.on('rotated', this.onRotated);
  }

  private readonly onRotated = (): void => {
    const creds = this.credentials.current;
    if (creds !== null) this.server.setSecureContext(secureContextOptions(creds, this.credentials.trustBundlePem));
  };

  get port(): number {
    return boundPort(this.server);
  }

  get url(): string {
    return `https://${this.listenAt.host.includes(':') ? `[${this.listenAt.host}]` : this.listenAt.host}:${this.port}`;
  }

  listen(): Promise<void> {
    return listenOn(this.server, this.listenAt);
  }

  close(): Promise<void> {
    this.credentials.removeListener('rotated', this.onRotated);
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (verifyPeer(req.socket as TLSSocket, (id) => id === this.controlPlaneIdentity) === null) {
      res.writeHead(403, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end('forbidden: the remote admin listener answers only the control plane\n');
      return;
    }
    handleAdminRequest(this.source, req, res, true);
  }
}
