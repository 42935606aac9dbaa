import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeBodySource, RecordingSink, drain } from '../testing/stage-harness.js';
import { MAX_REPLAY_BODY_BYTES, NO_BODY, StreamedBody, replayOf } from './body.js';

const KiB = 1024;
const chunk = (n: number, fill = 'a'): Buffer => Buffer.alloc(n, fill);

test('a body with no sink keeps what arrives, and holds the client back once the limit is kept', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  b.push(chunk(32 * KiB));
  assert.equal(src.pauses, 0);
  b.push(chunk(32 * KiB - 1));
  assert.equal(src.pauses, 0, 'one byte under the limit: still reading');
  b.push(chunk(1));
  assert.equal(b.received, MAX_REPLAY_BODY_BYTES);
  assert.equal(src.pauses, 1, 'read-ahead stops at the limit');
  assert.equal(b.intact, true);
  assert.equal(b.chunks.length, 3);
});

test('kept chunks are kept by reference and sent again to each sink that attaches', () => {
  const b = new StreamedBody(new FakeBodySource());
  const c1 = Buffer.from('hello ');
  const c2 = Buffer.from('world');
  b.push(c1);
  b.push(c2);
  b.end(null);
  assert.equal(b.chunks[0], c1, 'no copy');
  const s1 = drain(b);
  const s2 = drain(b);
  for (const s of [s1, s2]) {
    assert.equal(s.text, 'hello world');
    assert.equal(s.ended, true);
  }
});

test('attach replays the kept chunks, then live ones; end and trailers reach the sink', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  b.push(Buffer.from('a'));
  const s = new RecordingSink();
  b.attach(s);
  b.push(Buffer.from('b'));
  assert.equal(s.text, 'ab');
  assert.equal(s.ended, false);
  const trailers = { 'x-t': '1' };
  b.end(trailers);
  assert.equal(s.ended, true);
  assert.equal(s.trailers, trailers);
  assert.equal(b.trailers, trailers);
  assert.equal(b.ended, true);
});

test('backpressure: a sink that refuses pauses the source; drained() resumes it', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  const s = new RecordingSink();
  b.attach(s);
  s.accept = false;
  b.push(chunk(10));
  assert.equal(src.paused, true);
  b.push(chunk(10));
  assert.equal(src.pauses, 1, 'paused once');
  s.accept = true;
  b.drained();
  assert.equal(src.paused, false);
  assert.equal(src.resumes, 1);
  b.drained();
  assert.equal(src.resumes, 1, 'not resumed twice');
});

test('attach to a full read-ahead resumes the client; a refusing sink keeps it paused', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  b.push(chunk(MAX_REPLAY_BODY_BYTES));
  assert.equal(src.paused, true);
  const refusing = new RecordingSink();
  refusing.accept = false;
  b.attach(refusing);
  assert.equal(src.paused, true);
  b.detach(refusing);
  const s = new RecordingSink();
  b.attach(s);
  assert.equal(src.paused, false);
  assert.equal(s.written.length, 1);
});

test('drained() with no sink attached does not resume a full read-ahead', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  b.push(chunk(MAX_REPLAY_BODY_BYTES));
  b.drained();
  assert.equal(src.paused, true);
});

test('past the limit with a sink attached the body is no longer intact and keeps nothing', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  const s = new RecordingSink();
  b.attach(s);
  b.push(chunk(MAX_REPLAY_BODY_BYTES));
  assert.equal(b.intact, true, 'exactly the limit is still kept');
  b.push(chunk(1));
  assert.equal(b.intact, false);
  assert.deepEqual(b.chunks, []);
  assert.equal(b.received, MAX_REPLAY_BODY_BYTES + 1);
  assert.equal(Buffer.concat(s.written).length, MAX_REPLAY_BODY_BYTES + 1, 'the sink got every byte');
  b.push(chunk(5));
  assert.deepEqual(b.chunks, [], 'nothing more is kept');
});

test('detach: later chunks go to no sink; the read-ahead resumes while under the limit', () => {
  const src = new FakeBodySource();
  const b = new StreamedBody(src);
  const s = new RecordingSink();
  b.attach(s);
  s.accept = false;
  b.push(Buffer.from('x'));
  assert.equal(src.paused, true);
  b.detach(new RecordingSink());
  assert.equal(src.paused, true, 'detaching another sink changes nothing');
  b.detach(s);
  assert.equal(src.paused, false);
  b.push(Buffer.from('y'));
  assert.equal(s.text, 'x');
  assert.equal(b.chunks.length, 2);
});

test('whenEnded: called once at the end, or at once when the body has ended', () => {
  const b = new StreamedBody(new FakeBodySource());
  let n = 0;
  b.whenEnded(() => n++);
  assert.equal(n, 0);
  b.end(null);
  assert.equal(n, 1);
  b.end(null);
  assert.equal(n, 1, 'a second end is ignored');
  let m = 0;
  b.whenEnded(() => m++);
  assert.equal(m, 1);
  let k = 0;
  NO_BODY.whenEnded(() => k++);
  assert.equal(k, 1);
});

test('NO_BODY: ended, intact, empty; a sink gets the end at once', () => {
  assert.equal(NO_BODY.ended, true);
  assert.equal(NO_BODY.intact, true);
  assert.equal(NO_BODY.received, 0);
  const s = drain(NO_BODY);
  assert.equal(s.ended, true);
  assert.equal(s.written.length, 0);
});

test('replayOf: an empty ended body is NO_BODY; a kept body replays the same chunks and trailers to every sink', () => {
  const empty = new StreamedBody(new FakeBodySource());
  empty.end(null);
  assert.equal(replayOf(empty), NO_BODY);
  const b = new StreamedBody(new FakeBodySource());
  const c = Buffer.from('payload');
  b.push(c);
  const trailers = { 'grpc-x': '1' };
  b.end(trailers);
  const r = replayOf(b);
  assert.equal(r.received, 7);
  assert.equal(r.ended, true);
  assert.equal(r.intact, true);
  for (let i = 0; i < 2; i++) {
    const s = drain(r);
    assert.equal(s.written[0], c, 'same chunk, no copy');
    assert.equal(s.text, 'payload');
    assert.equal(s.trailers, trailers);
  }
  let called = 0;
  r.whenEnded(() => called++);
  assert.equal(called, 1);
});
