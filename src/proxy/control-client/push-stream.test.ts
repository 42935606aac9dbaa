import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PUSH_PATH_STREAM } from '../../api/push.js';
import type { ControlMessage, ProxyMessage } from '../../api/push.js';
import { serverTlsOptions } from '../../identity/tls.js';
import { silentLogger } from '../../telemetry/logger.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';
import { PushClient } from './push-stream.js';

/** A stand-in push server: records each stream's lines, lets the test answer. */
interface Conn {
  stream: http2.ServerHttp2Stream;
  messages: ProxyMessage[];
  waiters: ((m: ProxyMessage) => void)[];
}

let pki: TestPki;
let server: http2.Http2SecureServer;
let port: number;
const conns: Conn[] = [];
let connWaiter: ((c: Conn) => void) | null = null;
let rt: ProxyRuntime;

function nextConn(): Promise<Conn> {
  const c = conns.shift();
  if (c !== undefined) return Promise.resolve(c);
  return new Promise((resolve) => (connWaiter = resolve));
}

function nextMessage(c: Conn, skipPings = true): Promise<ProxyMessage> {
  for (;;) {
    const m = c.messages.shift();
    if (m === undefined) break;
    if (skipPings && (m.type === 'ping' || m.type === 'status')) continue;
    return Promise.resolve(m);
  }
  return new Promise((resolve) =>
    c.waiters.push((m) => {
      if (skipPings && (m.type === 'ping' || m.type === 'status')) resolve(nextMessage(c, skipPings));
      else resolve(m);
    }),
  );
}

function send(c: Conn, m: ControlMessage): void {
  c.stream.write(`${JSON.stringify(m)}\n`);
}

before(async () => {
  pki = await testPki();
  const cp = await pki.ca.issueServerCertificate(id('control-plane'), [], ['127.0.0.1'], 3_600_000);
  server = http2.createSecureServer(serverTlsOptions(cp, pki.ca.trustBundlePem(), ['h2']));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':path'] !== PUSH_PATH_STREAM) {
      stream.respond({ ':status': 404 }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200 });
    const conn: Conn = { stream, messages: [], waiters: [] };
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const m = JSON.parse(buf.slice(0, nl)) as ProxyMessage;
        buf = buf.slice(nl + 1);
        const w = conn.waiters.shift();
        if (w !== undefined) w(m);
        else conn.messages.push(m);
      }
    });
    const w = connWaiter;
    connWaiter = null;
    if (w !== null) w(conn);
    else conns.push(conn);
  });
  server.on('session', (s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  const boot = bootstrap(id('frontend'), [], []);
  boot.controlPlane = { pushUrl: `https://127.0.0.1:${port}`, trustBundlePem: pki.ca.trustBundlePem(), identity: id('control-plane'), token: 't' };
  rt = await runtime(pki, boot);
});

after(async () => {
  rt.close();
  server.close();
  await pki.cleanup();
});

test('push stream: hello, ACK, NACK keeps the last good config, reconnect resumes from lastVersion', async () => {
  const client = new PushClient({
    bootstrap: rt.bootstrap,
    credentials: rt.tls.credentials,
    logger: silentLogger(),
    apply: (s) => rt.applySnapshot(s),
    status: () => rt.status(),
    random: () => 0,
    pingIntervalMs: 100,
  });
  client.start();
  try {
    const c1 = await nextConn();
    const hello = await nextMessage(c1);
    assert.equal(hello.type, 'hello');
    assert.equal(hello.type === 'hello' && hello.lastVersion, null);
    assert.equal(hello.type === 'hello' && hello.status.certSerial, rt.status().certSerial);

    send(c1, { type: 'snapshot', snapshot: snapshot(1, pki, [cluster('default/b:http', 'http', [endpoint(9, id('b'))])]) });
    assert.deepEqual(await nextMessage(c1), { type: 'ack', version: 1 });
    await client.firstSnapshot;
    assert.equal(rt.version, 1);

    send(c1, { type: 'snapshot', snapshot: snapshot(2, pki, [cluster('default/b:http', 'http', [endpoint(0, id('b'))])]) });
    const nack = await nextMessage(c1);
    assert.equal(nack.type, 'nack');
    assert.equal(nack.type === 'nack' && nack.version, 2);
    assert.match(nack.type === 'nack' ? nack.error : '', /port/);
    assert.equal(rt.version, 1, 'last good config kept');
    assert.equal(rt.clusters.get('default/b:http')?.endpoints[0]?.config.port, 9);

    // pings flow while idle
    assert.equal((await nextMessage(c1, false)).type, 'ping');

    // the control plane goes away: the client reconnects and says what it has
    c1.stream.session?.destroy();
    const c2 = await nextConn();
    const hello2 = await nextMessage(c2);
    assert.equal(hello2.type === 'hello' && hello2.lastVersion, 1);
  } finally {
    client.stop();
  }
});

test('push stream: with several control-plane replicas, an unreachable one is skipped and the next is used at once', async () => {
  // A port that was free a moment ago: nothing listens there.
  const dead = await new Promise<number>((resolve) => {
    const s = http2.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const boot = { ...rt.bootstrap, controlPlane: { ...rt.bootstrap.controlPlane, pushUrls: [`https://127.0.0.1:${dead}`, `https://127.0.0.1:${port}`] } };
  const client = new PushClient({
    bootstrap: boot,
    credentials: rt.tls.credentials,
    logger: silentLogger(),
    apply: (s) => rt.applySnapshot(s),
    status: () => rt.status(),
    random: () => 0,
    pingIntervalMs: 100,
  });
  client.start();
  try {
    const c = await nextConn();
    const hello = await nextMessage(c);
    assert.equal(hello.type, 'hello');
    assert.equal(client.url, `https://127.0.0.1:${port}`, 'the second replica serves the stream');
  } finally {
    client.stop();
  }
});
