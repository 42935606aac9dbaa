/**
 * gRPC through two proxies: @grpc/grpc-js client -> a's outbound listener (h2c) -> mTLS h2 ->
 * b's inbound listener -> grpc-echo. Unary, server streaming, bidi, NOT_FOUND with its message,
 * request metadata, response metadata and trailers.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { freePort } from '../helpers/proc.js';
import { fixturesDir, startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh, spiffeId } from '../helpers/meshes.js';

interface EchoReply {
  message: string;
  index: number;
  peerIdentity: string;
  metadata: Record<string, string>;
}
type Callback = (err: grpc.ServiceError | null, reply?: EchoReply) => void;
interface EchoClient extends grpc.Client {
  unary(req: { message: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback): grpc.ClientUnaryCall;
  missing(req: { message: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: Callback): grpc.ClientUnaryCall;
  serverStream(req: { message: string; count: number }, opts: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  bidi(opts: grpc.CallOptions): grpc.ClientDuplexStream<{ message: string }, EchoReply>;
}

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 20_000 });

describe('grpc through an outbound and an inbound proxy', () => {
  let mesh: Mesh | undefined;
  let client: EchoClient;

  before(async () => {
    const outPort = await freePort();
    mesh = await startMesh({
      meshYaml: pairMesh({ name: 'it-grpc', protocol: 'grpc', serverCommand: ['node', 'grpc-echo.mjs'], outPort }),
    });
    const def = protoLoader.loadSync(join(fixturesDir, 'echo.proto'), { keepCase: false, longs: Number, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { echo: { Echo: new (addr: string, creds: grpc.ChannelCredentials) => EchoClient } };
    client = new pkg.echo.Echo(`127.0.0.1:${outPort}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await mesh?.stop();
  });

  it('unary: reply, request metadata, initial metadata and trailers intact; b sees a\'s identity', async () => {
    const md = new grpc.Metadata();
    md.set('x-test', 'meta-value');
    md.set('x-other', 'two');
    let initial: grpc.Metadata | undefined;
    let status: grpc.StatusObject | undefined;
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.unary({ message: 'hello' }, md, deadline(), (err, r) => (err ? reject(err) : resolve(r!)));
      call.on('metadata', (m) => (initial = m));
      call.on('status', (s) => (status = s));
    });
    assert.equal(reply.message, 'hello');
    assert.equal(reply.peerIdentity, spiffeId('a'));
    assert.equal(reply.metadata['x-test'], 'meta-value');
    assert.equal(reply.metadata['x-other'], 'two');
    assert.deepEqual(initial?.get('x-echo-initial'), ['yes']);
    // 'status' is emitted after the callback; wait for it briefly.
    for (let i = 0; i < 100 && status === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(status?.code, grpc.status.OK);
    assert.deepEqual(status?.metadata.get('x-echo-trailer'), ['done']);
    assert.deepEqual(status?.metadata.get('x-echo-of'), ['meta-value']);
  });

  it('server streaming: 200 messages in order, then trailers', async () => {
    const call = client.serverStream({ message: 'm', count: 200 }, deadline());
    const got: EchoReply[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
      call.on('data', (r: EchoReply) => got.push(r));
      call.on('error', reject);
      call.on('status', resolve);
    });
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(got.length, 200);
    got.forEach((r, i) => {
      assert.equal(r.index, i);
      assert.equal(r.message, `m-${i}`);
    });
    assert.deepEqual(status.metadata.get('x-echo-trailer'), ['sent 200']);
  });

  it('bidi streaming: each message answered in order, interleaved', async () => {
    const call = client.bidi(deadline());
    const got: EchoReply[] = [];
    const waiters: (() => void)[] = [];
    call.on('data', (r: EchoReply) => {
      got.push(r);
      waiters.shift()?.();
    });
    const ended = new Promise<void>((resolve, reject) => {
      call.on('error', reject);
      call.on('end', resolve);
    });
    // Ping-pong: the next message is sent only after the previous answer came back, which
    // fails if the proxies buffer a stream until it ends.
    for (let i = 0; i < 10; i++) {
      const answered = new Promise<void>((resolve) => waiters.push(resolve));
      call.write({ message: `word${i}` });
      await answered;
      assert.equal(got[i]?.message, `WORD${i}`);
      assert.equal(got[i]?.index, i);
    }
    call.end();
    await ended;
    assert.equal(got.length, 10);
    assert.equal(got[0]?.peerIdentity, spiffeId('a'));
  });

  it('NOT_FOUND is propagated with its message and trailers', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      client.missing({ message: 'widget' }, new grpc.Metadata(), deadline(), (e) => (e ? resolve(e) : reject(new Error('expected an error'))));
    });
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'no such thing: widget');
    assert.deepEqual(err.metadata.get('x-error-detail'), ['fixture']);
  });
});
