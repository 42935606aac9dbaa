import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { TestUpstream, client, h2Server, plan, proxy, readBody, send, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// Mirrors get a copy of the request with a -shadow authority; the client sees only the primary.

let primaryServer: Listening;
let mirrorServer: Listening;
let primary: TestUpstream;
let mirror: TestUpstream;
let front: Proxy;
let session: ClientHttp2Session;
const mirrored: { headers: IncomingHttpHeaders; body: Buffer; stream: ServerHttp2Stream }[] = [];
let mirrorAnswers = true;

before(async () => {
  primaryServer = await h2Server((stream, headers) => {
    void readBody(stream).then((body) => {
      stream.respond({ ':status': 200, 'x-who': 'primary' });
      stream.end(`primary got ${body.length} bytes for ${String(headers[':path'])}`);
    });
  });
  mirrorServer = await h2Server((stream, headers) => {
    void readBody(stream).then((body) => {
      mirrored.push({ headers, body, stream });
      if (!mirrorAnswers) return;
      stream.respond({ ':status': 500, 'x-who': 'mirror' });
      stream.end('mirror body');
    });
  });
  primary = await TestUpstream.connect(primaryServer.port);
  mirror = await TestUpstream.connect(mirrorServer.port);
  front = await proxy(primary, {
    planner: () =>
      plan(primary, {
        mirrors: [mirror],
        rewrite: { rewrite: { path: { type: 'ReplaceFullPath', value: '/rewritten' }, hostname: undefined }, matchedPrefix: undefined },
      }),
  });
  session = await client(front.port);
});

after(async () => {
  session.close();
  primary.close();
  mirror.close();
  await front.close();
  await primaryServer.close();
  await mirrorServer.close();
});

test('the mirror gets the rewritten head with a -shadow authority and the body; the client only the primary', async () => {
  const body = Buffer.alloc(3000, 'm');
  const reply = await send(session, { ':method': 'POST', ':path': '/orig', ':authority': 'svc:8080' }, body);
  assert.equal(reply.headers[':status'], 200);
  assert.equal(reply.headers['x-who'], 'primary');
  assert.equal(reply.body.toString(), 'primary got 3000 bytes for /rewritten');
  await until(() => mirrored.length === 1, 'the mirrored request');
  assert.equal(mirrored[0]?.headers[':path'], '/rewritten');
  assert.equal(mirrored[0]?.headers[':authority'], 'svc-shadow:8080');
  assert.deepEqual(mirrored[0]?.body, body);
  await until(() => mirror.releases.length === 1, 'the mirror lease to be returned');
  assert.deepEqual(mirror.releases, [{ failed: false, grpcStatus: undefined }]);
});

test('a mirror that never answers does not hold up the primary', async () => {
  mirrorAnswers = false;
  mirrored.length = 0;
  try {
    const reply = await send(session, { ':method': 'GET', ':path': '/x', ':authority': 'svc' });
    assert.equal(reply.body.toString(), 'primary got 0 bytes for /rewritten');
    await until(() => mirrored.length === 1, 'the mirrored request');
    assert.equal(mirrored[0]?.headers[':authority'], 'svc-shadow');
  } finally {
    mirrorAnswers = true;
  }
});
