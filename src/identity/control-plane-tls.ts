import type { ConnectionOptions } from 'node:tls';
import { trustDomainOfRoot } from './fingerprint.js';
import { spiffeId } from './spiffe.js';
import { clientTlsOptions } from './tls.js';
import type { TlsCredentials } from './tls.js';

/** The SPIFFE ID every control plane of the trust domain carries (the reserved namespace's `control-plane`). */
export function controlPlaneSpiffeId(trustDomain: string): string {
  return spiffeId(trustDomain, 'trellis-system', 'control-plane');
}

/**
 * TLS options for calling the control plane's HTTPS REST API, as the CLI and agents do: the
 * server must chain to `trustBundlePem` and carry the control plane's SPIFFE ID of the bundle's
 * trust domain (as proxies check the push server); the host name plays no part, so any address
 * of the control plane works. Only the control plane can hold that ID: workloads are never
 * issued identities in the reserved namespace (src/control/auth/host-policy.ts). With `creds`,
 * the caller presents its own certificate (a joined host's agent).
 */
export function controlPlaneTlsOptions(trustBundlePem: string[], creds: TlsCredentials | null = null): ConnectionOptions {
  const td = trustBundlePem.map(trustDomainOfRoot).find((t): t is string => t !== null);
  if (td === undefined) throw new Error('the trust bundle names no trust domain (spiffe://<td> in its root certificate)');
  return clientTlsOptions(creds, trustBundlePem, controlPlaneSpiffeId(td), ['http/1.1']);
}
