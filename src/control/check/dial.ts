import { connect } from 'node:tls';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP, isHttp2 } from '../../api/common.js';
import type { Protocol } from '../../api/common.js';
import { clientTlsOptions } from '../../identity/tls.js';
import type { TlsCredentials } from '../../identity/tls.js';

export function alpnFor(protocol: Protocol): string {
  if (isHttp2(protocol)) return ALPN_H2;
  return protocol === 'tcp' ? ALPN_TCP : ALPN_HTTP1;
}

/** How long an accepted dial waits for the endpoint to close its side before dropping the socket. */
const CLOSE_GRACE_MS = 2_000;

/**
 * mTLS handshake with an endpoint, expecting `identity`, presenting the control plane's own
 * certificate; resolves to null on success, else a one-line reason.
 *
 * The dial is a complete handshake that ends politely, so the endpoint counts it as one
 * successful inbound handshake (its peer: the control plane), never as a TLS failure. In
 * TLS 1.3 the client is done (secureConnect) before the server has read the client's
 * certificate and Finished; closing then with destroy() reset the connection under the
 * server's handshake (unread data in our receive buffer makes the kernel send RST, dropping
 * what we had not sent yet), so every `trellis check` counted as a failure in every proxy's
 * metrics. end() sends our Finished, then close_notify and FIN, in order; the socket is
 * dropped only if the endpoint has not closed its side CLOSE_GRACE_MS later.
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
      if (result === null) {
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      } else socket.destroy();
      resolve(result);
    };
    const socket = connect({
      host: target.host,
      port: target.port,
      ...clientTlsOptions(creds, trustBundlePem, target.identity, [alpnFor(target.protocol)]),
    });
    const timer = setTimeout(() => finish(`no TLS handshake within ${timeoutMs} ms`), timeoutMs);
    socket.once('secureConnect', () => finish(null));
    socket.on('error', (err) => finish(err.message));
    socket.once('close', () => finish('connection closed during the handshake'));
  });
}
