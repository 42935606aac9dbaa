import { createSecureContext as nodeCreateSecureContext } from 'node:tls';
import type { ConnectionOptions, PeerCertificate, SecureContext, SecureContextOptions, TLSSocket, TlsOptions } from 'node:tls';
import { spiffeIdOfPeer } from './spiffe.js';

/**
 * TLS option builders for every mTLS connection in the mesh. Identity is the SPIFFE URI SAN,
 * never the host name: clients replace checkServerIdentity, servers read the verified peer
 * certificate with verifyPeer.
 */
export interface TlsCredentials {
  keyPem: string;
  /** Leaf first. */
  certChainPem: string[];
}

export const TLS_MIN_VERSION = 'TLSv1.3';

/** Key, chain and trust bundle: what a SecureContext holds (for server.setSecureContext on rotation). */
export function secureContextOptions(creds: TlsCredentials, trustBundlePem: string[]): SecureContextOptions {
  return {
    key: creds.keyPem,
    cert: creds.certChainPem.join('\n'),
    ca: trustBundlePem,
    minVersion: TLS_MIN_VERSION,
  };
}

/** A SecureContext for a client (`secureContext` option) or a server's SNI callback. */
export function createSecureContext(creds: TlsCredentials, trustBundlePem: string[]): SecureContext {
  return nodeCreateSecureContext(secureContextOptions(creds, trustBundlePem));
}

/** Server side of mesh mTLS: a client certificate chaining to the bundle is required. */
export function serverTlsOptions(creds: TlsCredentials, trustBundlePem: string[], alpn: string[]): TlsOptions {
  return {
    ...secureContextOptions(creds, trustBundlePem),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: alpn,
  };
}

/** Error returned by the client's identity check; its message names both IDs. */
export function identityMismatch(expected: string, got: string | null): Error {
  const err = new Error(`peer SPIFFE ID ${got ?? '(none)'} is not the expected ${expected}`) as Error & { code: string };
  err.code = 'ERR_TRELLIS_PEER_IDENTITY';
  return err;
}

/**
 * Client side of mesh mTLS: the server must chain to the bundle and carry exactly
 * `expectedIdentity` as its SPIFFE URI SAN. The host name (and SNI) plays no part.
 */
export function clientTlsOptions(
  creds: TlsCredentials | null,
  trustBundlePem: string[],
  expectedIdentity: string,
  alpn: string[],
): ConnectionOptions {
  const base: ConnectionOptions =
    creds !== null ? secureContextOptions(creds, trustBundlePem) : { ca: trustBundlePem, minVersion: TLS_MIN_VERSION };
  return {
    ...base,
    rejectUnauthorized: true,
    ALPNProtocols: alpn,
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
      const got = spiffeIdOfPeer(cert);
      return got === expectedIdentity ? undefined : identityMismatch(expectedIdentity, got);
    },
  };
}

/**
 * The verified SPIFFE ID of the peer of an established TLS socket, or null when the peer
 * presented no certificate, its chain did not verify against the bundle, it carries no
 * single SPIFFE ID, or `accept` refuses the ID.
 */
export function verifyPeer(socket: TLSSocket, accept: (id: string) => boolean): string | null {
  if (!socket.authorized) return null;
  const id = spiffeIdOfPeer(socket.getPeerCertificate());
  if (id === null || !accept(id)) return null;
  return id;
}
