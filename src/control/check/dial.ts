import { connect } from 'node:tls';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP, isHttp2 } from '../../api/common.js';
import type { Protocol } from '../../api/common.js';
import { clientTlsOptions } from '../../identity/tls.js';
import type { TlsCredentials } from '../../identity/tls.js';

export function alpnFor(protocol: Protocol): string {
  if (isHttp2(protocol)) return ALPN_H2;
  return protocol === 'tcp' ? ALPN_TCP : ALPN_HTTP1;
}

/**
 * mTLS handshake with an endpoint, expecting `identity`; closes right after.
 * Resolves to null on success, else a one-line reason.
 */
export function dialAndVerify(
  target: { host: string; port: number; identity: string; protocol: Protocol },
  creds: TlsCredentials,
  trustBundlePem: string[],
  timeoutMs: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const socket = connect({
      host: target.host,
      port: target.port,
      ...clientTlsOptions(creds, trustBundlePem, target.identity, [alpnFor(target.protocol)]),
    });
    const timer = setTimeout(() => finish(`no TLS handshake within ${timeoutMs} ms`), timeoutMs);
    socket.once('secureConnect', () => finish(null));
    socket.once('error', (err) => finish(err.message));
    socket.once('close', () => finish('connection closed during the handshake'));
  });
}
