import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { tcpConnector } from '../pool/connect.js';
import { AppLeases } from '../pool/app-source.js';
import { Exchange } from '../pipeline/exchange.js';
import { NO_BODY } from '../pipeline/body.js';
import { H2SessionPool } from '../pool/h2-session-pool.js';
import { respondProxyError } from './reply.js';

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('a gRPC client reads a mesh-made error as `trellis app-unavailable: app <addr>: connect ECONNREFUSED`, the address once', async () => {
  // The inbound path when the app is down: the app's h2 upstream fails to connect, and the
  // proxy answers the gRPC call itself.
  const appPort = await closedPort();
  const appLabel = `127.0.0.1:${appPort}`;
  const upstream = new AppLeases(appLabel, null, new H2SessionPool(tcpConnector('127.0.0.1', appPort, 1000), `http://${appLabel}`));
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const ex = new Exchange({
      site: { name: 'grpc', direction: 'inbound', ingress: false, cluster: '' }, protocol: 'http2', peer: null, clientAddress: undefined,
      method: 'POST', target: '/test.Echo/Echo', headers: [], authority: undefined, wire: headers, grpc: true, upgrade: false,
      body: NO_BODY, start: 0, startedAt: 0,
    });
    upstream.acquire(ex, { exclude: undefined, fresh: false }, (f) => {
      assert.ok(f !== null);
      respondProxyError(stream, true, f.status, f.reason, f.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new grpc.Client(`127.0.0.1:${(server.address() as AddressInfo).port}`, grpc.credentials.createInsecure());
  try {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest('/test.Echo/Echo', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), (e) => resolve(e!));
    });
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal(err.details, `trellis app-unavailable: app ${appLabel}: connect ECONNREFUSED`);
    assert.equal(err.details.split(appLabel).length - 1, 1);
    assert.equal(err.metadata.get('trellis-reason')[0], 'app-unavailable');
  } finally {
    client.close();
    upstream.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
