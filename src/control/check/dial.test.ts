/**
 * `trellis check` dials every ready endpoint. Against a real proxy's inbound listeners (one per
 * protocol), the dial must count as a successful inbound handshake, never as a TLS failure.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { Protocol } from '../../api/common.js';
import type { ProxyRuntime } from '../../proxy/runtime.js';
import { bootstrap, id, portOf, runtime, snapshot, testPki, type TestPki } from '../../proxy/testing/fixtures.js';
import { dialAndVerify } from './dial.js';

const CONTROL_PLANE = id('control-plane');
let pki: TestPki;
let rt: ProxyRuntime;
let app: http.Server;
let cpCreds: { keyPem: string; certChainPem: string[] };

before(async () => {
  pki = await testPki();
  app = http.createServer((_req, res) => res.end('app'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appAt = { host: '127.0.0.1', port: (app.address() as AddressInfo).port };
  const inbound = (['http', 'grpc', 'tcp'] as Protocol[]).map((protocol) => ({ name: protocol, protocol, listen: { host: '127.0.0.1', port: 0 }, app: appAt }));
  rt = await runtime(pki, bootstrap(id('b'), inbound, []));
  assert.equal(rt.applySnapshot(snapshot(1, pki, [])), null);
  await rt.startListeners();
  cpCreds = await pki.ca.issueServerCertificate(CONTROL_PLANE, ['localhost'], ['127.0.0.1'], 3600_000);
});

after(async () => {
  rt.close();
  app.closeAllConnections();
  await new Promise((r) => app.close(r));
  await pki.cleanup();
});

test('every check dial is a successful inbound handshake of the proxy, never a TLS failure', async () => {
  const before = { ...rt.status() };
  const N = 10;
  for (let i = 0; i < N; i++) {
    for (const protocol of ['http', 'grpc', 'tcp'] as Protocol[]) {
      const why = await dialAndVerify({ host: '127.0.0.1', port: portOf(rt, protocol, 'inbound'), identity: id('b'), protocol }, cpCreds, pki.ca.trustBundlePem(), 5000);
      assert.equal(why, null, `${protocol}: ${String(why)}`);
    }
  }
  // The proxy counts a handshake when its server side completes, just after the dial's verdict.
  const deadline = Date.now() + 10_000;
  while (rt.status().tlsHandshakes < before.tlsHandshakes + 3 * N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const after = rt.status();
  assert.equal(after.tlsFailures, before.tlsFailures, 'no check dial counted as a TLS failure');
  assert.equal(after.tlsHandshakes, before.tlsHandshakes + 3 * N);
});

test('an endpoint presenting another identity is reported', async () => {
  const wrong = await dialAndVerify({ host: '127.0.0.1', port: portOf(rt, 'http', 'inbound'), identity: id('c'), protocol: 'http' }, cpCreds, pki.ca.trustBundlePem(), 5000);
  assert.match(wrong ?? '', /is not the expected spiffe:\/\/test\.local\/ns\/default\/sa\/c/);
});
