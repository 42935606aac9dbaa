import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { HttpRouteRuleConfig } from '../../api/snapshot.js';
import { TestRoutes, TestUpstream, proxy, rule, until } from './test-helpers.js';
import type { Proxy } from './test-helpers.js';

// Streaming gRPC through the outbound stack with a route that edits the request: server-streaming
// and bidi are unaffected, without a retry policy (the retry stage passes the exchange on) and
// with one (the retry stage watches the exchange while its body is kept for a replay).

interface Msg {
  text: string;
}
const ser = (v: Msg): Buffer => Buffer.from(JSON.stringify(v));
const de = (b: Buffer): Msg => JSON.parse(b.toString('utf8')) as Msg;
const method = (path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Msg, Msg> => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: ser,
  requestDeserialize: de,
  responseSerialize: ser,
  responseDeserialize: de,
});
const service: grpc.ServiceDefinition = {
  count: method('/test.Stream/Count', false, true),
  chat: method('/test.Stream/Chat', true, true),
};
const StreamClient = grpc.makeGenericClientConstructor(service, 'Stream');

let app: grpc.Server;
let upstream: TestUpstream;
let piped: Proxy;
let kept: Proxy;
const seenHeaders: string[] = [];

before(async () => {
  app = new grpc.Server();
  app.addService(service, {
    count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      const tag = call.metadata.get('x-planned')[0];
      seenHeaders.push(typeof tag === 'string' ? tag : '');
      const n = Number(call.request.text);
      if (n === 0) {
        call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'zero' });
        return;
      }
      for (let i = 1; i <= n; i++) call.write({ text: String(i) });
      call.end();
    },
    chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ text: m.text.toUpperCase() }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    app.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  upstream = await TestUpstream.connect(port);
  const edit: HttpRouteRuleConfig['filters'] = [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-planned', value: 'yes' }] } }];
  piped = await proxy(upstream, { clusters: new TestRoutes([rule({ filters: edit })]).table });
  kept = await proxy(upstream, {
    clusters: new TestRoutes([rule({ filters: edit, retry: { attempts: 2, backoffMs: 5, codes: [], grpcCodes: [14] } })]).table,
  });
});

after(async () => {
  upstream.close();
  await piped.close();
  await kept.close();
  app.forceShutdown();
});

function countCall(stub: grpc.Client, n: number): Promise<{ texts: string[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const texts: string[] = [];
    const call = stub.makeServerStreamRequest('/test.Stream/Count', ser, de, { text: String(n) });
    call.on('data', (m: Msg) => texts.push(m.text));
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => resolve({ texts, status }));
  });
}

/** Each message is answered before the next is sent: proves the request streams through live. */
async function chat(stub: grpc.Client, words: string[]): Promise<string[]> {
  const call = stub.makeBidiStreamRequest('/test.Stream/Chat', ser, de);
  const replies: string[] = [];
  let waiting: (() => void) | null = null;
  call.on('data', (m: Msg) => {
    replies.push(m.text);
    waiting?.();
  });
  const done = new Promise<void>((resolve) => call.on('status', () => resolve()));
  for (const w of words) {
    const answered = new Promise<void>((resolve) => (waiting = resolve));
    call.write({ text: w });
    await answered;
  }
  call.end();
  await done;
  return replies;
}

for (const [name, front] of [
  ['no retry', () => piped],
  ['retry policy', () => kept],
] as const) {
  test(`server-streaming and bidi pass through a routed stack (${name})`, async () => {
    const p = front();
    const stub = new StreamClient(`127.0.0.1:${p.port}`, grpc.credentials.createInsecure());
    try {
      const streamed = await countCall(stub, 5);
      assert.deepEqual(streamed.texts, ['1', '2', '3', '4', '5']);
      assert.equal(streamed.status.code, grpc.status.OK);
      assert.equal(seenHeaders.at(-1), 'yes');

      const failed = await countCall(stub, 0);
      assert.equal(failed.status.code, grpc.status.FAILED_PRECONDITION);
      await until(() => p.records.some((r) => r.grpcStatus === grpc.status.FAILED_PRECONDITION), 'the failed call record');

      assert.deepEqual(await chat(stub, ['a', 'bc', 'def']), ['A', 'BC', 'DEF']);
    } finally {
      stub.close();
    }
  });
}
