import type { PeerCertificate } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import { isInTrustDomain, spiffeIdOfPeer } from '../../identity/spiffe.js';
import { identityMismatch, secureContextOptions, type TlsCredentials } from '../../identity/tls.js';

/** Picks how to reach a proxy's admin URL: undefined (undici's default) for http, the mTLS agent for https. */
export type AdminDispatcherFor = (url: string) => Dispatcher | undefined;

/**
 * How the control plane calls proxies' admin endpoints (scrapes, taps). On one host they are
 * plain HTTP on loopback. Across hosts an agent reports each proxy's remote admin listener
 * (`https://<host address>:<port>`, src/proxy/admin/remote-admin-server.ts), which answers only
 * a client with the control plane's certificate: this keeps an undici Agent that presents it
 * (the push listener's certificate, rotated with it) and accepts a server certificate only if it
 * chains to the mesh trust bundle and names a workload of this trust domain.
 */
export class ProxyAdminDispatcher {
  private agent: Agent | null = null;

  constructor(private readonly trustDomain: string) {}

  /** New control-plane credentials or trust bundle: later requests use them; calls in flight keep theirs. */
  update(creds: TlsCredentials, trustBundlePem: string[]): void {
    const old = this.agent;
    const trustDomain = this.trustDomain;
    this.agent = new Agent({
      keepAliveTimeout: 10_000,
      connect: {
        ...secureContextOptions(creds, trustBundlePem),
        rejectUnauthorized: true,
        // The host name plays no part (mesh certificates name SPIFFE IDs, not addresses).
        checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
          const id = spiffeIdOfPeer(cert);
          return id !== null && isInTrustDomain(id, trustDomain) ? undefined : identityMismatch(`a workload of ${trustDomain}`, id);
        },
      },
    });
    // Long taps may still use the old agent; it closes once they end.
    void old?.close().catch(() => undefined);
  }

  readonly for: AdminDispatcherFor = (url) => (url.startsWith('https:') ? (this.agent ?? undefined) : undefined);

  async close(): Promise<void> {
    const a = this.agent;
    this.agent = null;
    await a?.destroy().catch(() => undefined);
  }
}
