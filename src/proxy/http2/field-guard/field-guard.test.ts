import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { systemClock } from '../../clock/clock.js';
import { id, testPki } from '../../testing/fixtures.js';
import { DEFAULT_HTTP2_LIMITS, http2ServerOptions } from '../limits/limits.js';
import { guardSession } from '../limits/session-guard.js';
import { ErrorCode, errorCodeOf, Flag, frame, FrameType, headersFrame, RawH2Client } from '../raw-h2.js';
import type { RawFrame } from '../raw-h2.js';
import { H2FieldGuard } from './field-guard.js';
import { TestHpackEncoder } from './hpack-test-encoder.js';
import type { EncodeField, Representation } from './hpack-test-encoder.js';

/**
 * The field guard over real sockets: hostile HEADERS written by hand (TestHpackEncoder can say
 * what Node's client refuses to), checked against what nghttp2 really delivers.
 */

interface Seen {
  id: number;
  headers: IncomingHttpHeaders;
  raw: string[];
  malformed: boolean;
}

interface GuardedServer {
  port: number;
  guard: H2FieldGuard;
  seen: Seen[];
  broken: string[];
  close(): Promise<void>;
}

const running: GuardedServer[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()!.close();
});

/**
 * `observe`: the handler is not wrapped by guardStreams, so malformed requests get through and
 * each records the guard's verdict (isMalformed) beside what nghttp2 delivered.
 */
async function start(observe = false, tlsOptions?: tls.TlsOptions, firstRequestTimeoutMs = 0): Promise<GuardedServer> {
  const broken: string[] = [];
  const guard = new H2FieldGuard({ onBroken: (r) => broken.push(r) });
  const limits = { ...DEFAULT_HTTP2_LIMITS, maxConcurrentStreams: 4096, firstRequestTimeoutMs };
  const h2 = http2.createServer(http2ServerOptions(limits));
  const seen: Seen[] = [];
  const handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void => {
    seen.push({ id: stream.id!, headers, raw, malformed: guard.isMalformed(stream) });
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => stream.respond({ ':status': 200, 'x-seen': String(headers['x-a'] ?? '') }, { endStream: true }));
  };
  h2.on('stream', observe ? handler : guard.guardStreams(handler));
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
    s.once('close', () => sessions.delete(s));
    guardSession(s, limits, systemClock);
  });
  const onSocket = (socket: net.Socket): void => {
    socket.on('error', () => {});
    guard.serve(h2, socket);
  };
  // As the inbound listener: TLS terminated by a tls.Server, the decrypted socket handed on.
  const outer = tlsOptions === undefined ? net.createServer(onSocket) : tls.createServer({ ...tlsOptions, ALPNProtocols: ['h2'] }, onSocket);
  await new Promise<void>((resolve) => outer.listen(0, '127.0.0.1', resolve));
  const g: GuardedServer = {
    port: (outer.address() as AddressInfo).port,
    guard,
    seen,
    broken,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        outer.close(() => resolve());
      }),
  };
  running.push(g);
  return g;
}

const REQUEST: EncodeField[] = [
  { name: ':method', value: 'GET' },
  { name: ':scheme', value: 'http' },
  { name: ':path', value: '/' },
  { name: ':authority', value: 'test' },
];

/** The server's answer on `id`: its RST_STREAM, or its response HEADERS. */
const answerOn = (id: number) => (f: RawFrame): boolean => f.streamId === id && (f.type === FrameType.RstStream || f.type === FrameType.Headers);

describe('H2FieldGuard: requests nghttp2 would forward without a malformed field are reset', () => {
  it('values with CR LF, LF or NUL, as raw and Huffman literals and as a dynamic-table reference: PROTOCOL_ERROR, never handled; a clean request on the same connection works', async () => {
    const g = await start();
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    const hostile: EncodeField[] = [
      { name: 'x-a', value: 'a\r\nx-injected: 1' },
      { name: 'x-a', value: 'a\nb' },
      { name: 'x-a', value: 'a\0b' },
      { name: 'x-a', value: 'a\r\nb', huffman: true },
      { name: 'x-a', value: 'a\nb', huffman: true },
      { name: 'x-a', value: 'a\0b', huffman: true, as: 'incremental' },
      { name: 'x-a', value: 'a\0b', as: 'indexed' }, // the entry the previous request added
      { name: 'user-agent', value: 'ua\r\n', huffman: true }, // a static-table name
    ];
    const ids = hostile.map((f, i) => {
      const id = 1 + 2 * i;
      c.write(headersFrame(id, enc.encode([...REQUEST, f])));
      return id;
    });
    const clean = 1 + 2 * hostile.length;
    c.write(headersFrame(clean, enc.encode([...REQUEST, { name: 'x-a', value: 'fine', huffman: true }])));
    for (const id of ids) {
      const answer = await c.waitFor(answerOn(id));
      assert.equal(answer.type, FrameType.RstStream, `stream ${id}`);
      assert.equal(errorCodeOf(answer), ErrorCode.ProtocolError);
    }
    const ok = await c.waitFor(answerOn(clean));
    assert.equal(ok.type, FrameType.Headers);
    assert.deepEqual(g.seen.map((s) => [s.id, s.headers['x-a']]), [[clean, 'fine']]);
    assert.equal(g.guard.stats.malformedStreams, hostile.length);
    c.destroy();
  });

  it('invalid field names (a space, "@", empty) are reset the same way; upper case is reset by nghttp2 itself', async () => {
    const g = await start();
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    const names = ['x a', 'x@a', '', 'x-a\0', 'X-A'];
    names.forEach((name, i) => c.write(headersFrame(1 + 2 * i, enc.encode([...REQUEST, { name, value: 'v', huffman: i % 2 === 0 }]))));
    for (let i = 0; i < names.length; i++) {
      const answer = await c.waitFor(answerOn(1 + 2 * i));
      assert.equal(answer.type, FrameType.RstStream, JSON.stringify(names[i]));
      assert.equal(errorCodeOf(answer), ErrorCode.ProtocolError);
    }
    assert.equal(g.seen.length, 0);
    c.destroy();
  });

  it('malformed trailers reset a stream that was already handed on', async () => {
    const g = await start();
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    c.write(headersFrame(1, enc.encode([{ name: ':method', value: 'POST' }, ...REQUEST.slice(1)]), { endStream: false }));
    while (g.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    c.write(headersFrame(1, enc.encode([{ name: 'x-trailer', value: 'a\r\nb' }]), { endStream: true }));
    const answer = await c.waitFor(answerOn(1));
    assert.equal(answer.type, FrameType.RstStream);
    assert.equal(errorCodeOf(answer), ErrorCode.ProtocolError);
    assert.equal(g.guard.stats.malformedStreams, 1);
    c.destroy();
  });

  it('a header block split across TCP writes, CONTINUATION frames and padding is checked all the same', async () => {
    const g = await start();
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    const block = enc.encode([...REQUEST, { name: 'x-pad', value: 'p'.repeat(300) }, { name: 'x-a', value: 'a\nb', huffman: true }]);
    const cut = [100, 250];
    const bytes = Buffer.concat([
      headersFrame(1, block.subarray(0, cut[0]), { endHeaders: false, padding: 7 }),
      frame(FrameType.Continuation, 0, 1, block.subarray(cut[0], cut[1])),
      frame(FrameType.Continuation, Flag.EndHeaders, 1, block.subarray(cut[1])),
    ]);
    for (let i = 0; i < bytes.length; i += 13) {
      c.write(bytes.subarray(i, i + 13));
      await new Promise((r) => setImmediate(r));
    }
    const answer = await c.waitFor(answerOn(1));
    assert.equal(answer.type, FrameType.RstStream);
    assert.equal(errorCodeOf(answer), ErrorCode.ProtocolError);
    c.destroy();
  });

  it('behind TLS (the inbound listener), a CR LF value is reset and a clean request answered', async () => {
    const pki = await testPki();
    try {
      const creds = await pki.issue(id('server'));
      const g = await start(false, { key: creds.keyPem, cert: creds.certChainPem });
      const c = await RawH2Client.connect(g.port, { tls: true });
      const enc = new TestHpackEncoder();
      c.write(headersFrame(1, enc.encode([...REQUEST, { name: 'x-a', value: 'a\r\nb', huffman: true }])));
      c.write(headersFrame(3, enc.encode([...REQUEST, { name: 'x-a', value: 'fine' }])));
      const bad = await c.waitFor(answerOn(1));
      assert.equal(bad.type, FrameType.RstStream);
      assert.equal(errorCodeOf(bad), ErrorCode.ProtocolError);
      assert.equal((await c.waitFor(answerOn(3))).type, FrameType.Headers);
      assert.deepEqual(g.seen.map((s) => s.id), [3]);
      c.destroy();
    } finally {
      await pki.cleanup();
    }
  });

  it('with guardSession on the same server, a bare preface through the guard is still closed', async () => {
    const g = await start(false, undefined, 100);
    const c = await RawH2Client.connect(g.port);
    await c.closed;
    assert.equal(g.seen.length, 0);
  });

  it('bytes it cannot follow (broken HPACK) close the connection', async () => {
    const g = await start();
    const c = await RawH2Client.connect(g.port);
    c.write(headersFrame(1, Buffer.from([0x80])));
    await c.closed;
    assert.deepEqual(g.broken, ['HPACK decoding failed']);
    assert.equal(g.guard.stats.brokenConnections, 1);
  });

  it("Node's own client (nghttp2's encoder: Huffman, indexing, eviction) over 300 varied requests: nothing flagged, all answered", async () => {
    const g = await start();
    const client = http2.connect(`http://127.0.0.1:${g.port}`);
    client.on('error', () => {});
    for (let i = 0; i < 300; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = client.request({ ':path': `/r/${i}`, 'x-a': `value-${i}-${'z'.repeat(i % 97)}`, 'x-b': i % 3 === 0 ? 'same' : `b${i}`, cookie: `c=${i}` });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
      assert.equal(status, 200);
    }
    client.close();
    assert.equal(g.seen.length, 300);
    assert.equal(g.guard.stats.malformedStreams, 0);
  });
});

describe('H2FieldGuard agrees with nghttp2 (observe mode: the handler sees what nghttp2 delivered and the guard verdict)', () => {
  /** Sends `requests` (each a list of extra fields) on one connection; returns per request: handled (verdict, whether nghttp2 dropped a field) or reset. */
  async function compare(requests: EncodeField[][], sizeUpdates: (number | null)[] = []): Promise<{ malformed: boolean; dropped: boolean }[]> {
    const g = await start(true);
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    requests.forEach((extra, i) => {
      const s = sizeUpdates[i];
      if (s !== undefined && s !== null) enc.setTableSize(s);
      c.write(headersFrame(1 + 2 * i, enc.encode([...REQUEST, ...extra])));
    });
    const out: { malformed: boolean; dropped: boolean }[] = [];
    for (let i = 0; i < requests.length; i++) {
      const id = 1 + 2 * i;
      const answer = await c.waitFor(answerOn(id));
      if (answer.type === FrameType.RstStream) continue; // nghttp2 reset it itself (upper case, a bad pseudo-header...)
      const s = g.seen.find((x) => x.id === id)!;
      const delivered = s.raw.length / 2 - REQUEST.length;
      out.push({ malformed: s.malformed, dropped: delivered < requests[i]!.length });
    }
    c.destroy();
    return out;
  }

  it('octet by octet: a value with the octet in the middle, first or last, a name with it, and host with it', async () => {
    const requests: EncodeField[][] = [];
    for (let o = 0; o < 256; o++) {
      const ch = String.fromCharCode(o);
      const h = o % 2 === 1;
      requests.push([{ name: 'x-v', value: `a${ch}a`, huffman: h }], [{ name: 'x-v', value: `${ch}a` }], [{ name: 'x-v', value: `a${ch}`, huffman: h }]);
      requests.push([{ name: `x${ch}y`, value: 'v', huffman: h }], [{ name: 'host', value: `a${ch}b`, huffman: h }]);
    }
    const results = await compare(requests);
    assert.ok(results.length > 1000);
    const disagreements = results.filter((r) => r.malformed !== r.dropped);
    assert.deepEqual(disagreements, []);
    assert.ok(results.some((r) => r.dropped) && results.some((r) => !r.dropped));
  });

  const BAD = '\x00\r\n\t \x01\x7f\x80\xff@AZ:';
  const octets = (chars: string, max: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...chars.split('')), { maxLength: max }).map((a) => a.join(''));
  const field: fc.Arbitrary<EncodeField> = fc.record({
    name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('host', 'user-agent', 'x-a', 'x-b', 'accept', 'cookie') }, { weight: 1, arbitrary: octets('abz-_9' + BAD, 8) }),
    value: fc.oneof({ weight: 3, arbitrary: octets('abcxyz0189 /.:;=-', 30) }, { weight: 2, arbitrary: octets('ab' + BAD, 8) }),
    as: fc.constantFrom<Representation>('indexed', 'incremental', 'without', 'never'),
    huffman: fc.boolean(),
    indexName: fc.boolean(),
  });

  it('fuzz: random fields, representations, Huffman and table size updates over a real connection; the verdict always matches what nghttp2 dropped', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ fields: fc.array(field, { maxLength: 6 }), size: fc.option(fc.integer({ min: 0, max: 4096 }), { freq: 6 }) }), { minLength: 1, maxLength: 12 }),
        async (reqs) => {
          const results = await compare(
            reqs.map((r) => r.fields),
            reqs.map((r) => r.size),
          );
          for (const r of results) assert.equal(r.malformed, r.dropped);
          while (running.length > 0) await running.pop()!.close();
        },
      ),
      { seed: 4242, numRuns: 40 },
    );
  });
});
