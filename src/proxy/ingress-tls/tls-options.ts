import { constants } from 'node:crypto';
import type tls from 'node:tls';
import type { Protocol } from '../../api/common.js';

/**
 * TLS settings of an ingress listener, where clients are strangers on the open internet:
 * TLS 1.2 and 1.3 only (Node's default ciphers: forward-secret AEAD suites first), and no
 * renegotiation at all (TLS 1.3 has none; for 1.2 OpenSSL refuses a client's request outright
 * instead of Node's default of 3 per 10 minutes, which costs the server a full handshake each).
 */
export const INGRESS_TLS_MIN_VERSION: tls.SecureVersion = 'TLSv1.2';

export function ingressSecureContextOptions(certPem: string, keyPem: string): tls.SecureContextOptions {
  return { cert: certPem, key: keyPem, minVersion: INGRESS_TLS_MIN_VERSION, secureOptions: constants.SSL_OP_NO_RENEGOTIATION };
}

/**
 * ALPN the ingress offers: the protocol of the service port behind it, since a request goes
 * upstream with the codec it came in on (the pipeline does not translate HTTP/1 to HTTP/2).
 * A client that offers both (browsers, curl, undici) picks the one offered; gRPC clients offer
 * `h2`. A client that offers only the other gets a `no_application_protocol` alert; one that
 * offers none is served the listener's protocol. TCP: no ALPN, the decrypted bytes are relayed.
 */
export function ingressAlpn(protocol: Protocol): string[] | undefined {
  if (protocol === 'http') return ['http/1.1'];
  if (protocol === 'tcp') return undefined;
  return ['h2'];
}
