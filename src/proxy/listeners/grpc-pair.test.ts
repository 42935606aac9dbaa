import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

interface Msg {
  text: string;
  peer?: string;
}
const ser = (v: Msg): Buffer => Buffer.from(JSON.stringify(v));
const de = (b: Buffer): Msg => JSON.parse(b.toString('utf8')) as Msg;
const service: grpc.ServiceDefinition = {
  echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: ser, requestDeserialize: de, responseSerialize: ser, responseDeserialize: de },
  count: { path: '/test.Echo/Count', requestStream: false, responseStream: true, requestSerialize: ser, requestDeserialize: de, responseSerialize: ser, responseDeserialize: de },
};
const EchoClient = grpc.makeGenericClientConstructor(service, 'Echo');

const CLUSTER = 'default/backend:grpc';
let pki: TestPki;
let app: grpc.Server;
let server: ProxyRuntime;
let client: ProxyRuntime;
let stub: grpc.Client;
let markCancelled: () => void = () => {};

before(async () => {
  pki = await testPki();
  app = new grpc.Server();
  app.addService(service, {
    echo: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (call.request.text === 'missing') {
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'kept');
      const peer = call.metadata.get('trellis-peer-identity')[0];
      cb(null, { text: call.request.text, peer: typeof peer === 'string' ? peer : '' }, trailer);
    },
    count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      if (call.request.text === 'forever') {
        const timer = setInterval(() => call.write({ text: 'tick' }), 5);
        call.on('cancelled', () => {
          clearInterval(timer);
          markCancelled();
        });
        return;
      }
      const n = Number(call.request.text);
      for (let i = 1; i <= n; i++) call.write({ text: String(i) });
      if (n === 0) call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'zero' });
      else call.end();
    },
  });
  const appPort = await new Promise<number>((resolve, reject) =>
    app.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  server = await runtime(
    pki,
    bootstrap(id('backend'), [{ name: 'grpc', protocol: 'grpc', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
  );
  server.applySnapshot(snapshot(1, pki, []));
  await server.startListeners();
  client = await runtime(
    pki,
    bootstrap(id('frontend'), [], [{ name: 'backend', protocol: 'grpc', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]),
  );
  assert.equal(client.applySnapshot(snapshot(1, pki, [cluster(CLUSTER, 'grpc', [endpoint(portOf(server, 'grpc', 'inbound'), id('backend'))])])), null);
  await client.startListeners();
  stub = new EchoClient(`127.0.0.1:${portOf(client, 'backend', 'outbound')}`, grpc.credentials.createInsecure());
});

after(async () => {
  stub.close();
  client.close();
  server.close();
  app.forceShutdown();
  await pki.cleanup();
});

function unary(c: grpc.Client, text: string): Promise<{ err: grpc.ServiceError | null; res: Msg | undefined; trailers: grpc.Metadata | undefined }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c.makeUnaryRequest('/test.Echo/Echo', ser, de, { text }, (err, res) => {
      setImmediate(() => resolve({ err: err ?? null, res, trailers }));
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
    });
  });
}

test('gRPC unary through outbound -> inbound, trailers and peer identity intact', async () => {
  const { err, res, trailers } = await unary(stub, 'hi');
  assert.equal(err, null);
  assert.equal(res?.text, 'hi');
  assert.equal(res?.peer, id('frontend'));
  assert.deepEqual(trailers?.get('x-trailer'), ['kept']);
});

test('gRPC error status (NOT_FOUND, trailers-only) propagates', async () => {
  const { err } = await unary(stub, 'missing');
  assert.equal(err?.code, grpc.status.NOT_FOUND);
  assert.equal(err?.details, 'no such thing');
});

test('gRPC server streaming delivers every message then OK; a stream error status propagates', async () => {
  const got: string[] = [];
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    const call = stub.makeServerStreamRequest('/test.Echo/Count', ser, de, { text: '5' });
    call.on('data', (m: Msg) => got.push(m.text));
    call.on('error', () => {});
    call.on('status', resolve);
  });
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(got, ['1', '2', '3', '4', '5']);
  const failed = await new Promise<grpc.StatusObject>((resolve) => {
    const call = stub.makeServerStreamRequest('/test.Echo/Count', ser, de, { text: '0' });
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', resolve);
  });
  assert.equal(failed.code, grpc.status.FAILED_PRECONDITION);
});

test('a client cancelling a stream resets it through both proxies to the app', async () => {
  const appSawCancel = new Promise<void>((resolve) => (markCancelled = resolve));
  const call = stub.makeServerStreamRequest('/test.Echo/Count', ser, de, { text: 'forever' });
  call.on('error', () => {});
  await new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.cancel();
  await appSawCancel; // never resolves (test times out) if the RST_STREAM is lost
});

test('many concurrent unary calls share the mTLS h2 session', async () => {
  const handshakes = server.tls.counters.tlsHandshakes;
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(stub, `m${i}`)));
  assert.ok(results.every((r, i) => r.err === null && r.res?.text === `m${i}`));
  assert.equal(server.tls.counters.tlsHandshakes, handshakes, 'no new mTLS connection for the burst');
});

test('no endpoints: gRPC callers get UNAVAILABLE with trellis-reason, h2 callers 503', async () => {
  assert.equal(client.applySnapshot(snapshot(2, pki, [cluster(CLUSTER, 'grpc', [])])), null);
  try {
    const { err } = await unary(stub, 'x');
    assert.equal(err?.code, grpc.status.UNAVAILABLE);
    assert.match(err?.details ?? '', /no-endpoints/);
    assert.deepEqual(err?.metadata.get('trellis-reason'), ['no-endpoints']);
    const s = http2.connect(`http://127.0.0.1:${portOf(client, 'backend', 'outbound')}`);
    const h = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const req = s.request({ ':path': '/' });
      req.on('response', resolve);
      req.on('error', reject);
      req.resume();
      req.end();
    });
    s.close();
    assert.equal(h[':status'], 503);
    assert.equal(h['trellis-reason'], 'no-endpoints');
  } finally {
    client.applySnapshot(snapshot(3, pki, [cluster(CLUSTER, 'grpc', [endpoint(portOf(server, 'grpc', 'inbound'), id('backend'))])]));
  }
  const { err } = await unary(stub, 'back');
  assert.equal(err, null);
});

test('plain HTTP/2 through the pair: request body and request trailers reach the app', async () => {
  const h2app = http2.createServer();
  h2app.on('stream', (stream) => {
    let body = '';
    let trailer = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('trailers', (t) => (trailer = String(t['x-req-trailer'])));
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-res-trailer': 'r' }));
      stream.end(`${body}|${trailer}`);
    });
  });
  await new Promise<void>((r) => h2app.listen(0, '127.0.0.1', r));
  const appPort = (h2app.address() as { port: number }).port;
  const srv = await runtime(
    pki,
    bootstrap(id('web'), [{ name: 'h2', protocol: 'http2', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
  );
  const cli = await runtime(pki, bootstrap(id('frontend'), [], [{ name: 'web', protocol: 'http2', listen: { host: '127.0.0.1', port: 0 }, cluster: 'default/web:h2' }]));
  try {
    srv.applySnapshot(snapshot(1, pki, []));
    await srv.startListeners();
    cli.applySnapshot(snapshot(1, pki, [cluster('default/web:h2', 'http2', [endpoint(portOf(srv, 'h2', 'inbound'), id('web'))])]));
    await cli.startListeners();
    const s = http2.connect(`http://127.0.0.1:${portOf(cli, 'web', 'outbound')}`);
    const res = await new Promise<{ status: unknown; body: string; trailer: unknown }>((resolve, reject) => {
      const req = s.request({ ':method': 'POST', ':path': '/up' }, { waitForTrailers: true });
      let status: unknown;
      let body = '';
      let trailer: unknown;
      req.on('wantTrailers', () => req.sendTrailers({ 'x-req-trailer': 't' }));
      req.on('response', (h) => (status = h[':status']));
      req.on('trailers', (t) => (trailer = t['x-res-trailer']));
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, body, trailer }));
      req.on('error', reject);
      req.end('payload');
    });
    s.close();
    assert.equal(res.status, 201);
    assert.equal(res.body, 'payload|t');
    assert.equal(res.trailer, 'r');
  } finally {
    cli.close();
    srv.close();
    h2app.close();
  }
});
