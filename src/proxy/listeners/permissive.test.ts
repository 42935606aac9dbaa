import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { InboundPolicyConfig } from '../../api/snapshot.js';
import { DEFAULT_HTTP1_LIMITS } from '../http1/types.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

// PERMISSIVE and STRICT inbound ports side by side on one proxy, over real sockets: plaintext
// and mTLS callers on one port, hostile first bytes, and policy seeing plaintext callers as
// unauthenticated.

const HANDSHAKE_TIMEOUT_MS = 400;
let pki: TestPki;
let app: http.Server;
let h2app: http2.Http2Server;
let echo: net.Server;
let server: ProxyRuntime;
let client: ProxyRuntime;
const appSaw: (string | null)[] = [];

const listen = async (s: net.Server): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
};

before(async () => {
  pki = await testPki();
  app = http.createServer((req, res) => {
    const peer = req.headers['trellis-peer-identity'];
    appSaw.push(typeof peer === 'string' ? peer : null);
    res.end(JSON.stringify({ peer: peer ?? null }));
  });
  h2app = http2.createServer((req, res) => res.end(JSON.stringify({ peer: req.headers['trellis-peer-identity'] ?? null })));
  echo = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => s.write(d));
  });
  const [appPort, h2Port, echoPort] = [await listen(app), await listen(h2app), await listen(echo)];
  const at = (port: number) => ({ host: '127.0.0.1', port });
  server = await runtime(
    pki,
    bootstrap(
      id('api'),
      [
        { name: 'http', protocol: 'http', listen: at(0), app: at(appPort), mtls: 'PERMISSIVE' },
        { name: 'strict', protocol: 'http', listen: at(0), app: at(appPort) },
        { name: 'h2', protocol: 'http2', listen: at(0), app: at(h2Port), mtls: 'PERMISSIVE' },
        { name: 'tcp', protocol: 'tcp', listen: at(0), app: at(echoPort), mtls: 'PERMISSIVE' },
      ],
      [],
    ),
    { limits: { ...DEFAULT_HTTP1_LIMITS, tlsHandshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS } },
  );
  server.applySnapshot(snapshot(1, pki, []));
  await server.startListeners();
  client = await runtime(
    pki,
    bootstrap(id('web'), [], [
      { name: 'api', protocol: 'http', listen: at(0), cluster: 'default/api:http' },
      { name: 'api-strict', protocol: 'http', listen: at(0), cluster: 'default/api:strict' },
      { name: 'api-tcp', protocol: 'tcp', listen: at(0), cluster: 'default/api:tcp' },
    ]),
  );
  client.applySnapshot(
    snapshot(1, pki, [
      cluster('default/api:http', 'http', [endpoint(portOf(server, 'http', 'inbound'), id('api'))]),
      cluster('default/api:strict', 'http', [endpoint(portOf(server, 'strict', 'inbound'), id('api'))]),
      cluster('default/api:tcp', 'tcp', [endpoint(portOf(server, 'tcp', 'inbound'), id('api'))]),
    ]),
  );
  await client.startListeners();
});

after(async () => {
  client.close();
  server.close();
  app.close();
  h2app.close();
  echo.close();
  await pki.cleanup();
});

function get(port: number): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** Writes `bytes` (optionally nothing) and resolves with what came back once the proxy closes the connection. */
function sendAndWaitClose(port: number, bytes: Buffer | null): Promise<{ reply: string; error: string | undefined }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    let error: string | undefined;
    s.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    s.on('error', (e) => (error = e.message));
    s.on('close', () => resolve({ reply, error }));
    if (bytes !== null) s.write(bytes);
  });
}

test('PERMISSIVE: a plaintext HTTP client and an mTLS client are served on the same port; only the mTLS one has an identity', async () => {
  const port = portOf(server, 'http', 'inbound');
  const plain = await get(port);
  assert.equal(plain.status, 200);
  assert.deepEqual(JSON.parse(plain.body), { peer: null });
  const meshed = await get(portOf(client, 'api', 'outbound'));
  assert.equal(meshed.status, 200);
  assert.deepEqual(JSON.parse(meshed.body), { peer: id('web') });
  const text = await server.metrics.text();
  assert.match(text, /trellis_inbound_plaintext_connections_total\{listener="http"\} 1\b/);
  assert.match(text, /trellis_inbound_permissive_tls_connections_total\{listener="http"\} [1-9]/);
  assert.equal(server.status().plaintextConnections?.http, 1);
});

test('STRICT: a plaintext HTTP request is never served; an mTLS client is', async () => {
  const before = appSaw.length;
  const r = await sendAndWaitClose(portOf(server, 'strict', 'inbound'), Buffer.from('GET / HTTP/1.1\r\nhost: api\r\n\r\n'));
  assert.doesNotMatch(r.reply, /HTTP\/1\.1/);
  assert.equal(appSaw.length, before);
  const meshed = await get(portOf(client, 'api-strict', 'outbound'));
  assert.equal(meshed.status, 200);
  assert.doesNotMatch(await server.metrics.text(), /plaintext_connections_total\{listener="strict"\}/);
});

test('PERMISSIVE hostile input: a first byte that never comes is closed after the timeout and counted', async () => {
  const before = appSaw.length;
  const r = await sendAndWaitClose(portOf(server, 'http', 'inbound'), null);
  assert.equal(r.reply, '');
  assert.equal(appSaw.length, before);
  assert.match(await server.metrics.text(), /trellis_inbound_first_byte_failures_total\{listener="http",reason="timeout"\} [1-9]/);
});

test('PERMISSIVE hostile input: a partial ClientHello goes to TLS and is closed by the handshake timeout, never to the app', async () => {
  const before = appSaw.length;
  // record header (handshake, TLS 1.0, length 512) and the start of a ClientHello, then silence
  const r = await sendAndWaitClose(portOf(server, 'http', 'inbound'), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
  assert.doesNotMatch(r.reply, /HTTP/);
  assert.equal(appSaw.length, before);
});

test('STRICT hostile input: a partial ClientHello is closed by the handshake timeout (it used to hold the connection forever)', async () => {
  const failures = server.tls.counters.tlsFailures;
  const r = await sendAndWaitClose(portOf(server, 'strict', 'inbound'), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
  assert.doesNotMatch(r.reply, /HTTP/);
  assert.equal(server.tls.counters.tlsFailures, failures + 1);
});

test('PERMISSIVE hostile input: garbage after a TLS record byte is a TLS failure; plain garbage is a 400 from the codec', async () => {
  const before = appSaw.length;
  const failures = server.tls.counters.tlsFailures;
  const tlsJunk = await sendAndWaitClose(portOf(server, 'http', 'inbound'), Buffer.concat([Buffer.from([0x16]), Buffer.alloc(64, 0xff)]));
  assert.doesNotMatch(tlsJunk.reply, /HTTP/);
  assert.equal(server.tls.counters.tlsFailures, failures + 1);
  const junk = await sendAndWaitClose(portOf(server, 'http', 'inbound'), Buffer.from([0x00, 0xff, 0x80, 0x0d, 0x0a, 0x0d, 0x0a]));
  assert.match(junk.reply, /^HTTP\/1\.1 400 /);
  assert.equal(appSaw.length, before);
});

test('PERMISSIVE HTTP/2 (h2c prior knowledge) and TCP ports serve plaintext callers', async () => {
  const session = http2.connect(`http://127.0.0.1:${portOf(server, 'h2', 'inbound')}`);
  session.on('error', () => {});
  const body = await new Promise<string>((resolve, reject) => {
    const s = session.request({ ':path': '/' });
    let b = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (b += c));
    s.on('end', () => resolve(b));
    s.on('error', reject);
  });
  session.close();
  assert.deepEqual(JSON.parse(body), { peer: null });
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: portOf(server, 'tcp', 'inbound') }, () => s.write('ping'));
    s.on('data', (d: Buffer) => {
      resolve(d.toString());
      s.destroy();
    });
    s.on('error', reject);
  });
  assert.equal(echoed, 'ping');
});

test('policy: defaultAction authenticated denies the plaintext caller (403 unauthorized) and serves the mTLS one', async () => {
  const inbound: InboundPolicyConfig = { port: 'http', defaultAction: 'authenticated', defaultFrom: 'mesh', authorization: [], rateLimits: [] };
  server.applySnapshot({ ...snapshot(2, pki, []), inbound: [inbound] });
  const before = appSaw.length;
  const plain = await get(portOf(server, 'http', 'inbound'));
  assert.equal(plain.status, 403);
  assert.equal(plain.headers['trellis-reason'], 'unauthorized');
  assert.equal(appSaw.length, before);
  const meshed = await get(portOf(client, 'api', 'outbound'));
  assert.equal(meshed.status, 200);
  assert.deepEqual(JSON.parse(meshed.body), { peer: id('web') });
});

/** Opens a TCP connection, writes `ping`; resolves with the first reply, or the error/close that came instead. */
function tcpPing(port: number): Promise<{ reply: string | null; error: string | undefined; socket: net.Socket }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('ping'));
    let error: string | undefined;
    s.on('data', (d: Buffer) => resolve({ reply: d.toString(), error, socket: s }));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ reply: null, error, socket: s }));
  });
}

/** Resolves with the error code (or 'closed') once an open socket ends. */
function ended(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve('closed');
    let code = 'closed';
    s.on('error', (e: NodeJS.ErrnoException) => (code = e.code ?? e.message));
    s.on('close', () => resolve(code));
  });
}

// PERMISSIVE and TCP authorization on one inbound listener: a plaintext TCP caller is decided
// like any other connection, as a caller without identity, and reset (RST) when refused.
test('PERMISSIVE TCP port with a policy: the plaintext caller is unauthenticated (reset), the mTLS caller relayed; a new policy resets an open plaintext connection', async () => {
  const tcpPolicy = (defaultAction: InboundPolicyConfig['defaultAction']): InboundPolicyConfig => ({ port: 'tcp', defaultAction, defaultFrom: 'mesh', authorization: [], rateLimits: [] });
  server.applySnapshot({ ...snapshot(3, pki, []), inbound: [tcpPolicy('allow')] });
  const open = await tcpPing(portOf(server, 'tcp', 'inbound'));
  assert.equal(open.reply, 'ping', 'allowed: the plaintext caller is relayed');
  const gone = ended(open.socket);

  server.applySnapshot({ ...snapshot(4, pki, []), inbound: [tcpPolicy('authenticated')] });
  assert.equal(await gone, 'ECONNRESET', 'the open plaintext connection is reset by the new policy');
  const plain = await tcpPing(portOf(server, 'tcp', 'inbound'));
  assert.equal(plain.reply, null, 'nothing relayed to a refused plaintext caller');
  assert.equal(plain.error, 'ECONNRESET', 'refused with a reset, not a clean close');
  const meshed = await tcpPing(portOf(client, 'api-tcp', 'outbound'));
  assert.equal(meshed.reply, 'ping', 'the mTLS caller has an identity: relayed');
  meshed.socket.destroy();
  assert.match(await server.metrics.text(), /trellis_inbound_plaintext_connections_total\{listener="tcp"\} [2-9]/);
  server.applySnapshot({ ...snapshot(5, pki, []), inbound: [] });
});
