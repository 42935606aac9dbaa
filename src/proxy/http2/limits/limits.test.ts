import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../../clock/clock.js';
import { TestHpackEncoder } from '../field-guard/hpack-test-encoder.js';
import { ErrorCode, errorCodeOf, Flag, frame, FrameType, headersFrame, pingFrame, RawH2Client, rstStreamFrame, settingsFrame } from '../raw-h2.js';
import type { RawFrame } from '../raw-h2.js';
import { ConnectionLimiter } from './connection-limiter.js';
import { DEFAULT_HTTP2_LIMITS, http2ServerOptions } from './limits.js';
import type { Http2Limits } from './limits.js';
import { guardSession } from './session-guard.js';
import type { SessionCloseReason } from './session-guard.js';

/**
 * Hostile HTTP/2 over real sockets against a plain http2 server built with
 * http2ServerOptions() and guardSession(): what nghttp2/Node enforce and what our timers add.
 * Timeouts are made short so the tests finish; they assert what happens, never how fast.
 */

interface Guarded {
  port: number;
  /** Streams handed to the handler, and the most open at once. */
  handled: number;
  peak: number;
  closedFor: SessionCloseReason[];
  streamTimeouts: number;
  /** Sessions that ended, with the error Node gave (if any). */
  sessionEnds: (string | null)[];
  close(): Promise<void>;
}

const servers: Guarded[] = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
});

/** `respond`: what the handler does with each stream (default: keep it open). */
async function guardedServer(limits: Partial<Http2Limits>, respond?: (s: ServerHttp2Stream) => void): Promise<Guarded> {
  const l: Http2Limits = { ...DEFAULT_HTTP2_LIMITS, ...limits };
  const server = http2.createServer(http2ServerOptions(l));
  const sessions = new Set<http2.ServerHttp2Session>();
  let open = 0;
  const g: Guarded = {
    port: 0,
    handled: 0,
    peak: 0,
    closedFor: [],
    streamTimeouts: 0,
    sessionEnds: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('session', (s) => {
    sessions.add(s);
    let error: string | null = null;
    s.once('close', () => {
      sessions.delete(s);
      g.sessionEnds.push(error);
    });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.message));
    guardSession(s, l, systemClock, { onSessionClosed: (r) => g.closedFor.push(r), onStreamTimeout: () => g.streamTimeouts++ });
  });
  server.on('stream', (stream) => {
    g.handled++;
    open++;
    g.peak = Math.max(g.peak, open);
    stream.on('error', () => {});
    stream.once('close', () => open--);
    respond?.(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  g.port = (server.address() as AddressInfo).port;
  servers.push(g);
  return g;
}

const REQUEST = [
  { name: ':method', value: 'GET' },
  { name: ':scheme', value: 'http' },
  { name: ':path', value: '/' },
  { name: ':authority', value: 'test' },
];

function settingOf(f: RawFrame, id: number): number | undefined {
  for (let i = 0; i + 6 <= f.payload.length; i += 6) if (f.payload.readUInt16BE(i) === id) return f.payload.readUInt32BE(i + 2);
  return undefined;
}

async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 10));
}

const isServerSettings = (f: RawFrame): boolean => f.type === FrameType.Settings && (f.flags & Flag.Ack) === 0;
const isSettingsAck = (f: RawFrame): boolean => f.type === FrameType.Settings && (f.flags & Flag.Ack) !== 0;

describe('HTTP/2 limits (nghttp2 and Node, configured by http2ServerOptions)', () => {
  it('advertises its limits in the first SETTINGS frame', async () => {
    const g = await guardedServer({});
    const c = await RawH2Client.connect(g.port);
    const s = await c.waitFor(isServerSettings);
    assert.equal(settingOf(s, 0x3), DEFAULT_HTTP2_LIMITS.maxConcurrentStreams);
    assert.equal(settingOf(s, 0x6), DEFAULT_HTTP2_LIMITS.maxHeaderListSize);
    assert.equal(settingOf(s, 0x4) ?? 65_535, DEFAULT_HTTP2_LIMITS.initialStreamWindowSize);
    // The connection window is raised by a WINDOW_UPDATE on stream 0.
    const wu = await c.waitFor((f) => f.type === FrameType.WindowUpdate && f.streamId === 0);
    assert.equal(wu.payload.readUInt32BE(0) + 65_535, DEFAULT_HTTP2_LIMITS.connectionWindowSize);
    c.destroy();
  });

  it('10,000 streams on one connection: at most maxConcurrentStreams reach the handler, the rest are refused (REFUSED_STREAM), and the connection is closed', async () => {
    const g = await guardedServer({ maxConcurrentStreams: 16 });
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    const block = enc.encode(REQUEST);
    const frames: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) frames.push(headersFrame(1 + 2 * i, block));
    c.write(Buffer.concat(frames)); // before our SETTINGS are acknowledged: nghttp2 refuses the excess
    await c.closed;
    assert.ok(g.handled <= 16, `${g.handled} streams reached the handler`);
    assert.equal(g.peak, g.handled);
    const refused = c.frames.filter((f) => f.type === FrameType.RstStream && errorCodeOf(f) === ErrorCode.RefusedStream);
    assert.ok(refused.length >= 100, `${refused.length} REFUSED_STREAM`);
    assert.ok(c.frames.some((f) => f.type === FrameType.Goaway), 'the session ends with GOAWAY');
  });

  it('a client that exceeds the limit it acknowledged gets GOAWAY; the handler never sees the excess', async () => {
    const g = await guardedServer({ maxConcurrentStreams: 16 });
    const c = await RawH2Client.connect(g.port);
    await c.waitFor(isServerSettings);
    await c.waitFor(isSettingsAck);
    const enc = new TestHpackEncoder();
    const block = enc.encode(REQUEST);
    const frames: Buffer[] = [];
    for (let i = 0; i < 100; i++) frames.push(headersFrame(1 + 2 * i, block));
    c.write(Buffer.concat(frames));
    const goaway = await c.waitFor((f) => f.type === FrameType.Goaway);
    assert.notEqual(errorCodeOf(goaway), ErrorCode.NoError);
    assert.ok(g.handled <= 16, `${g.handled} streams reached the handler`);
    c.destroy();
  });

  it('a well-behaved client with more requests than the limit has them queued, not failed', async () => {
    const g = await guardedServer({ maxConcurrentStreams: 4 }, (s) => setTimeout(() => s.respond({ ':status': 200 }, { endStream: true }), 5));
    const client = http2.connect(`http://127.0.0.1:${g.port}`);
    client.on('error', () => {});
    // Before our SETTINGS arrive a client assumes 100 streams (Node, nghttp2 and Go all do): a
    // limit under 100 refuses a well-behaved client's first burst, so the defaults never go
    // below it. Here the client waits for them.
    await new Promise((r) => client.once('remoteSettings', r));
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => new Promise<number>((resolve, reject) => {
        const req = client.request({ ':path': '/' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
      })),
    );
    client.close();
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(g.handled, 20);
    assert.ok(g.peak <= 4, `peak ${g.peak}`);
  });

  it('a header list over maxHeaderListSize, or with more than maxHeaderListPairs fields, is reset (ENHANCE_YOUR_CALM) before the handler; the next request works', async () => {
    const g = await guardedServer({ maxHeaderListSize: 8192, maxHeaderListPairs: 32 }, (s) => s.respond({ ':status': 200 }, { endStream: true }));
    const c = await RawH2Client.connect(g.port);
    await c.waitFor(isServerSettings);
    await c.waitFor(isSettingsAck); // the list size applies once the client has acknowledged it
    const enc = new TestHpackEncoder();
    c.write(headersFrame(1, enc.encode([...REQUEST, { name: 'x-a', value: 'a'.repeat(5000) }, { name: 'x-b', value: 'b'.repeat(5000) }])));
    c.write(headersFrame(3, enc.encode([...REQUEST, ...Array.from({ length: 40 }, (_, i) => ({ name: `x-${i}`, value: 'v' }))])));
    c.write(headersFrame(5, enc.encode([...REQUEST, { name: 'x-ok', value: 'fine' }])));
    const r1 = await c.waitFor((f) => f.streamId === 1 && f.type === FrameType.RstStream);
    const r3 = await c.waitFor((f) => f.streamId === 3 && f.type === FrameType.RstStream);
    assert.equal(errorCodeOf(r1), ErrorCode.EnhanceYourCalm);
    assert.equal(errorCodeOf(r3), ErrorCode.EnhanceYourCalm);
    await c.waitFor((f) => f.streamId === 5 && f.type === FrameType.Headers);
    assert.equal(g.handled, 1);
    c.destroy();
  });

  it('PING and SETTINGS floods from a client that reads nothing close the connection (nghttp2 outbound-ACK limit)', async () => {
    const g = await guardedServer({});
    for (const flood of [pingFrame(), settingsFrame([[0x1, 4096]])]) {
      const ended = g.sessionEnds.length;
      const c = await RawH2Client.connect(g.port);
      c.socket.pause(); // never read the ACKs
      c.write(Buffer.concat(Array.from({ length: 100_000 }, () => flood)));
      await until(() => g.sessionEnds.length > ended);
      assert.match(g.sessionEnds[ended] ?? '', /Flooding was detected/);
      c.socket.resume();
      await c.closed;
    }
  });

  it('a CONTINUATION flood closes the connection (nghttp2 max continuations)', async () => {
    const g = await guardedServer({});
    const c = await RawH2Client.connect(g.port);
    const enc = new TestHpackEncoder();
    c.write(headersFrame(1, enc.encode(REQUEST), { endHeaders: false }));
    c.write(Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(FrameType.Continuation, 0, 1, enc.encode([{ name: `x-${i}`, value: 'v' }])))));
    await c.closed;
    assert.equal(g.handled, 0);
  });
});

describe('guardSession timers', () => {
  it('a connection that sends only the preface is closed after firstRequestTimeoutMs', async () => {
    const g = await guardedServer({ firstRequestTimeoutMs: 100 });
    const c = await RawH2Client.connect(g.port);
    await c.closed;
    assert.deepEqual(g.closedFor, ['first-request-timeout']);
    assert.ok(c.frames.some((f) => f.type === FrameType.Goaway && errorCodeOf(f) === ErrorCode.NoError));
  });

  it('a connection that sends nothing at all, or HEADERS that never end, is closed too', async () => {
    const g = await guardedServer({ firstRequestTimeoutMs: 100 });
    const silent = await RawH2Client.connect(g.port, { preface: false });
    const stalled = await RawH2Client.connect(g.port);
    stalled.write(headersFrame(1, new TestHpackEncoder().encode(REQUEST), { endHeaders: false }));
    await Promise.all([silent.closed, stalled.closed]);
    assert.equal(g.handled, 0);
  });

  it('a connection with no open stream for idleTimeoutMs gets GOAWAY(NO_ERROR) and is closed; an open stream keeps it', async () => {
    let hold: ServerHttp2Stream | null = null;
    const g = await guardedServer({ idleTimeoutMs: 150, streamIdleTimeoutMs: 0 }, (s) => {
      if (hold === null) hold = s; // the first request is answered only after a while
      else s.respond({ ':status': 200 }, { endStream: true });
    });
    const client = http2.connect(`http://127.0.0.1:${g.port}`);
    client.on('error', () => {});
    const goaway = new Promise<number>((resolve) => client.once('goaway', (code) => resolve(code)));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const first = client.request({ ':path': '/slow' });
    first.on('error', () => {});
    first.resume();
    await new Promise((r) => setTimeout(r, 400)); // well past idleTimeoutMs with a stream open
    assert.equal(client.closed, false);
    hold!.respond({ ':status': 200 }, { endStream: true });
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    await closed;
    assert.deepEqual(g.closedFor, ['idle']);
  });

  it('a stream whose request never completes is reset (CANCEL) after streamIdleTimeoutMs', async () => {
    const g = await guardedServer({ streamIdleTimeoutMs: 100 });
    const c = await RawH2Client.connect(g.port);
    c.write(headersFrame(1, new TestHpackEncoder().encode(REQUEST), { endStream: false }));
    const rst = await c.waitFor((f) => f.streamId === 1 && f.type === FrameType.RstStream);
    assert.equal(errorCodeOf(rst), ErrorCode.Cancel);
    assert.equal(g.streamTimeouts, 1);
    c.destroy();
  });

  it('a complete request waiting on a slow app is not reset by the stream timer', async () => {
    let stream: ServerHttp2Stream | null = null;
    const g = await guardedServer({ streamIdleTimeoutMs: 50 }, (s) => (stream = s));
    const client = http2.connect(`http://127.0.0.1:${g.port}`);
    client.on('error', () => {});
    const req = client.request({ ':path': '/' });
    const status = new Promise<number>((resolve, reject) => {
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
    });
    req.resume();
    await new Promise((r) => setTimeout(r, 300)); // several stream timeouts
    stream!.respond({ ':status': 200 }, { endStream: true });
    assert.equal(await status, 200);
    assert.equal(g.streamTimeouts, 0);
    client.close();
  });

  it('rapid reset (HEADERS then RST_STREAM, CVE-2023-44487): the session is closed after prematureResetMinStreams', async () => {
    const g = await guardedServer({ prematureResetMinStreams: 50 });
    const c = await RawH2Client.connect(g.port);
    await c.waitFor(isSettingsAck);
    const block = new TestHpackEncoder().encode(REQUEST);
    for (let batch = 0; batch < 40 && !c.socket.destroyed; batch++) {
      const frames: Buffer[] = [];
      for (let i = 0; i < 250; i++) {
        const id = 1 + 2 * (batch * 250 + i);
        frames.push(headersFrame(id, block, { endStream: false }), rstStreamFrame(id, ErrorCode.Cancel));
      }
      c.write(Buffer.concat(frames));
      await new Promise((r) => setImmediate(r));
    }
    await c.closed;
    assert.ok(g.closedFor.includes('premature-resets'));
    assert.ok(g.handled < 10_000, `${g.handled} streams reached the handler`);
  });
});

describe('ConnectionLimiter', () => {
  it('closes the connection over the limit at accept and counts it; the others keep working (HTTP/2)', async () => {
    const refused: unknown[] = [];
    const server = http2.createServer(http2ServerOptions());
    server.on('stream', (s) => s.respond({ ':status': 204 }, { endStream: true }));
    const limiter = new ConnectionLimiter(2, (c) => refused.push(c));
    limiter.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const a = http2.connect(`http://127.0.0.1:${port}`);
      const b = http2.connect(`http://127.0.0.1:${port}`);
      for (const s of [a, b]) s.on('error', () => {});
      await Promise.all([a, b].map((s) => new Promise((r) => s.once('connect', r))));
      const third = net.connect({ host: '127.0.0.1', port });
      third.on('error', () => {});
      await new Promise<void>((resolve) => third.once('close', () => resolve()));
      assert.equal(limiter.refused, 1);
      assert.equal(refused.length, 1);
      const status = await new Promise<number>((resolve, reject) => {
        const req = a.request({ ':path': '/' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
      });
      assert.equal(status, 204);
      a.close();
      b.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('works on any net server (an HTTP/1 or TCP listener): a freed slot is usable again', async () => {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.write('hi');
    });
    const limiter = new ConnectionLimiter(1);
    limiter.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // The first bytes the server sends, or '' when it closes the connection without a word.
      const read = (): Promise<string> =>
        new Promise((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port });
          s.on('error', () => {});
          s.once('data', (d) => {
            resolve(String(d));
            s.destroy();
          });
          s.once('close', () => resolve(''));
        });
      const held = net.connect({ host: '127.0.0.1', port });
      held.on('error', () => {});
      held.pause();
      await new Promise((r) => held.once('connect', r));
      await new Promise((r) => setTimeout(r, 20)); // let the server account the held connection
      assert.equal(await read(), '');
      held.destroy();
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(await read(), 'hi');
      assert.equal(limiter.refused, 1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
