import http2 from 'node:http2';
import type tls from 'node:tls';
import { TrellisError } from '../../errors.js';

/** Opens an HTTP/2-over-TLS session to the control plane; resolves once connected. */
export function connectH2(url: string, tlsOptions: tls.ConnectionOptions, timeoutMs: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { ...tlsOptions, ALPNProtocols: ['h2'] } as http2.SecureClientSessionOptions);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `control plane ${url}: connect timed out`));
    }, timeoutMs);
    session.once('connect', () => {
      clearTimeout(timer);
      session.removeAllListeners('error');
      session.on('error', () => {});
      resolve(session);
    });
    session.once('error', (err) => {
      clearTimeout(timer);
      session.destroy();
      reject(new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `control plane ${url}: ${err.message}`, { cause: err }));
    });
  });
}

/** POSTs a JSON body on an open session; resolves with the status and parsed JSON answer. */
export function postJson(session: http2.ClientHttp2Session, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    let status = 0;
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new TrellisError('TRELLIS_E_TIMEOUT', `POST ${path}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (h) => {
      status = Number(h[':status'] ?? 0);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown = null;
      try {
        json = text.length > 0 ? JSON.parse(text) : null;
      } catch {
        json = { error: { code: 'bad-json', message: text.slice(0, 200) } };
      }
      resolve({ status, json });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `POST ${path}: ${err.message}`, { cause: err }));
    });
    req.end(JSON.stringify(body));
  });
}
