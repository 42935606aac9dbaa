import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { clientTlsOptions } from '../../identity/tls.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

const CLUSTER = 'default/db:tcp';
let pki: TestPki;
let foreign: TestPki;
let echo: net.Server;
let server: ProxyRuntime;
let client: ProxyRuntime;

before(async () => {
  pki = await testPki();
  foreign = await testPki('other.local');
  // echo app; answers "bye" after the client half-closes
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('bye'));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const appPort = (echo.address() as AddressInfo).port;
  server = await runtime(
    pki,
    bootstrap(id('db'), [{ name: 'tcp', protocol: 'tcp', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
  );
  server.applySnapshot(snapshot(1, pki, []));
  await server.startListeners();
  client = await runtime(pki, bootstrap(id('frontend'), [], [{ name: 'db', protocol: 'tcp', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]));
  client.applySnapshot(snapshot(1, pki, [cluster(CLUSTER, 'tcp', [endpoint(portOf(server, 'tcp', 'inbound'), id('db'))])]));
  await client.startListeners();
});

after(async () => {
  client.close();
  server.close();
  echo.close();
  await pki.cleanup();
  await foreign.cleanup();
});

test('TCP echo through outbound -> inbound, 1 MiB both ways, half-close passes through', async () => {
  const payload = Buffer.alloc(1 << 20, 7);
  const got = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect({ port: portOf(client, 'db', 'outbound'), host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      s.end();
      resolve(Buffer.concat(chunks));
    });
    s.on('error', reject);
    s.write(payload, () => s.end());
  });
  assert.equal(got.length, payload.length + 3);
  assert.ok(got.subarray(0, payload.length).equals(payload));
  assert.equal(got.subarray(payload.length).toString(), 'bye');
  await new Promise((r) => setTimeout(r, 50));
  const text = await client.metrics.text();
  assert.match(text, /trellis_tcp_connections_opened_total\{direction="outbound",listener="db"\} 1/);
  assert.match(text, /trellis_tcp_bytes_total\{direction="outbound",listener="db",flow="rx"\} 1048576/);
});

function closedWithoutData(socket: net.Socket | tls.TLSSocket): Promise<{ data: number; error: string | undefined }> {
  return new Promise((resolve) => {
    let data = 0;
    let error: string | undefined;
    socket.on('data', (d: Buffer) => (data += d.length));
    socket.on('error', (e) => (error = e.message));
    socket.on('close', () => resolve({ data, error }));
  });
}

test('inbound refuses plain TCP (no TLS): closed, nothing relayed, counted as a TLS failure', async () => {
  const before = server.tls.counters.tlsFailures;
  const s = net.connect({ port: portOf(server, 'tcp', 'inbound'), host: '127.0.0.1' });
  s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\nhello');
  const r = await closedWithoutData(s);
  // whatever TLS alert bytes come back, the echo app's reply never does
  assert.ok(!/hello|bye/.test(String(r.data)));
  assert.equal(server.tls.counters.tlsFailures, before + 1);
});

test('inbound refuses a TLS client whose certificate is from a foreign CA', async () => {
  const before = server.tls.counters.tlsFailures;
  const creds = await foreign.issue(id('frontend', 'other.local'));
  // the client trusts our CA (so it would accept the server) but presents a foreign chain
  const s = tls.connect({
    ...clientTlsOptions(creds, pki.ca.trustBundlePem(), id('db'), ['trellis-tcp']),
    host: '127.0.0.1',
    port: portOf(server, 'tcp', 'inbound'),
  });
  let echoed = '';
  s.on('secureConnect', () => s.write('ping'));
  s.on('data', (d: Buffer) => (echoed += d.toString()));
  await closedWithoutData(s);
  // TLS 1.3: the client may finish its side before the server rejects its certificate,
  // so the refusal shows as a closed connection that never echoes, and a counted failure
  assert.equal(echoed, '');
  assert.equal(server.tls.counters.tlsFailures, before + 1);
});

test('inbound refuses a client without a certificate', async () => {
  const s = tls.connect({
    ...clientTlsOptions(null, pki.ca.trustBundlePem(), id('db'), ['trellis-tcp']),
    host: '127.0.0.1',
    port: portOf(server, 'tcp', 'inbound'),
  });
  let echoed = '';
  s.on('secureConnect', () => s.write('ping'));
  s.on('data', (d: Buffer) => (echoed += d.toString()));
  const r = await closedWithoutData(s);
  assert.equal(echoed, '');
  assert.ok(r.error !== undefined);
});

test('a correct mesh client with the wrong ALPN for the port is closed', async () => {
  const creds = await pki.issue(id('frontend'));
  const s = tls.connect({
    ...clientTlsOptions(creds, pki.ca.trustBundlePem(), id('db'), ['http/1.1']),
    host: '127.0.0.1',
    port: portOf(server, 'tcp', 'inbound'),
  });
  s.on('secureConnect', () => s.write('ping'));
  const r = await closedWithoutData(s);
  assert.equal(r.data, 0);
});

test('inbound: a peer that opens TCP and never finishes its TLS handshake is closed by the handshake timeout', async () => {
  // Node emits tlsClientError on the timeout but leaves the socket open when that event has a
  // listener; the listener must close it itself. 10 s (the default) is waited for once here.
  const closed = await new Promise<boolean>((resolve) => {
    const s = net.connect(portOf(server, 'tcp', 'inbound'), '127.0.0.1');
    const guard = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 30_000);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(guard);
      resolve(true);
    });
    s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  });
  assert.equal(closed, true);
});
