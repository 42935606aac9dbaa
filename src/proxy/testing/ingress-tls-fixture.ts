import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { IngressTlsConfig, OutboundListenerConfig } from '../../api/bootstrap.js';
import { DEFAULT_HTTP1_LIMITS } from '../http1/types.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from './fixtures.js';
import type { TestPki } from './fixtures.js';
import { testWebCa } from './web-certs.js';
import type { TestWebCa } from './web-certs.js';

/**
 * Test fixture for ingress TLS (src/proxy/ingress-tls/): a backend proxy in front of an
 * HTTP/1 app, an HTTP/2 app and a gRPC app, and an ingress proxy whose TLS listeners serve
 * certificates for `a.test` (the default) and `b.test` from PEM files in a temp dir, plus one
 * plain listener. Loopback only.
 */
export interface Msg {
  text: string;
  proto?: string;
}
const ser = (v: Msg): Buffer => Buffer.from(JSON.stringify(v));
const de = (b: Buffer): Msg => JSON.parse(b.toString('utf8')) as Msg;
export const ECHO_SERVICE: grpc.ServiceDefinition = {
  echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: ser, requestDeserialize: de, responseSerialize: ser, responseDeserialize: de },
  count: { path: '/test.Echo/Count', requestStream: false, responseStream: true, requestSerialize: ser, requestDeserialize: de, responseSerialize: ser, responseDeserialize: de },
};
export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

export interface PemFiles {
  cert: string;
  key: string;
}

export interface IngressTlsFixture {
  pki: TestPki;
  webCa: TestWebCa;
  dir: string;
  files: { a: PemFiles; b: PemFiles };
  /** Serials of the certificates first written for a.test and b.test. */
  serials: { a: string; b: string };
  ingress: ProxyRuntime;
  /** What the apps received: path, HTTP version, x-forwarded-proto. */
  seen: { path: string; httpVersion: string; proto: string | undefined }[];
  port(listener: 'web-tls' | 'web' | 'h2-tls' | 'grpc-tls'): number;
  /** Writes a new pair for `which` (cert first, then key, as a copy tool would). */
  write(which: 'a' | 'b', pem: { certPem: string; keyPem: string }): Promise<void>;
  close(): Promise<void>;
}

function listen(server: http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export async function ingressTlsFixture(opts: { handshakeTimeoutMs?: number; logger?: Logger } = {}): Promise<IngressTlsFixture> {
  const pki = await testPki();
  const webCa = await testWebCa();
  const dir = await mkdtemp(join(tmpdir(), 'trellis-ingress-tls-'));
  const seen: IngressTlsFixture['seen'] = [];
  const app = http.createServer((req, res) => {
    const proto = req.headers['x-forwarded-proto'];
    seen.push({ path: req.url ?? '', httpVersion: req.httpVersion, proto: typeof proto === 'string' ? proto : undefined });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, proto, httpVersion: req.httpVersion }));
  });
  const h2app = http2.createServer();
  h2app.on('stream', (stream, headers) => {
    const proto = headers['x-forwarded-proto'];
    seen.push({ path: String(headers[':path']), httpVersion: '2.0', proto: typeof proto === 'string' ? proto : undefined });
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify({ path: headers[':path'], proto, httpVersion: '2.0' }));
  });
  const grpcApp = new grpc.Server();
  grpcApp.addService(ECHO_SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const proto = call.metadata.get('x-forwarded-proto')[0];
      cb(null, { text: call.request.text, proto: typeof proto === 'string' ? proto : '' });
    },
    count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      const n = Number(call.request.text);
      for (let i = 1; i <= n; i++) call.write({ text: String(i) });
      call.end();
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcApp.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const appPort = await listen(app);
  const h2Port = await listen(h2app);
  const local = (port: number): { host: string; port: number } => ({ host: '127.0.0.1', port });
  const backend = await runtime(
    pki,
    bootstrap(id('web'), [
      { name: 'http', protocol: 'http', listen: local(0), app: local(appPort) },
      { name: 'h2', protocol: 'http2', listen: local(0), app: local(h2Port) },
      { name: 'grpc', protocol: 'grpc', listen: local(0), app: local(grpcPort) },
    ], []),
  );
  backend.applySnapshot(snapshot(1, pki, []));
  await backend.startListeners();

  const files = { a: { cert: join(dir, 'a.crt'), key: join(dir, 'a.key') }, b: { cert: join(dir, 'b.crt'), key: join(dir, 'b.key') } };
  const write = async (which: 'a' | 'b', pem: { certPem: string; keyPem: string }): Promise<void> => {
    await writeFile(files[which].cert, pem.certPem);
    await writeFile(files[which].key, pem.keyPem, { mode: 0o600 });
  };
  const a = await webCa.issue(['a.test']);
  const b = await webCa.issue(['b.test', '*.b.test']);
  await write('a', a);
  await write('b', b);
  const tlsConfig: IngressTlsConfig = {
    certificates: [
      { certFile: files.a.cert, keyFile: files.a.key, hosts: [] },
      { certFile: files.b.cert, keyFile: files.b.key, hosts: [] },
    ],
  };
  const ingressListener = (name: string, protocol: 'http' | 'http2' | 'grpc', clusterName: string, tls: boolean): OutboundListenerConfig => ({
    name,
    protocol,
    listen: local(0),
    cluster: clusterName,
    ingress: true,
    ...(tls ? { tls: tlsConfig } : {}),
  });
  const ingress = await runtime(
    pki,
    bootstrap(id('edge'), [], [
      ingressListener('web-tls', 'http', 'default/web:http', true),
      ingressListener('web', 'http', 'default/web:http', false),
      ingressListener('h2-tls', 'http2', 'default/web:h2', true),
      ingressListener('grpc-tls', 'grpc', 'default/web:grpc', true),
    ]),
    {
      limits: { ...DEFAULT_HTTP1_LIMITS, tlsHandshakeTimeoutMs: opts.handshakeTimeoutMs ?? DEFAULT_HTTP1_LIMITS.tlsHandshakeTimeoutMs },
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    },
  );
  ingress.applySnapshot(
    snapshot(1, pki, [
      cluster('default/web:http', 'http', [endpoint(portOf(backend, 'http', 'inbound'), id('web'))]),
      cluster('default/web:h2', 'http2', [endpoint(portOf(backend, 'h2', 'inbound'), id('web'))]),
      cluster('default/web:grpc', 'grpc', [endpoint(portOf(backend, 'grpc', 'inbound'), id('web'))]),
    ]),
  );
  await ingress.startListeners();
  return {
    pki,
    webCa,
    dir,
    files,
    serials: { a: a.serial, b: b.serial },
    ingress,
    seen,
    port: (name) => portOf(ingress, name, 'outbound'),
    write,
    async close() {
      ingress.close();
      backend.close();
      app.close();
      app.closeAllConnections();
      h2app.close();
      grpcApp.forceShutdown();
      await pki.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
