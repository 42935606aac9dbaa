import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../util/clock.js';
import { createAccessLog } from '../access-log.js';
import type { AccessLogSink, AccessRecord } from '../access-log.js';
import { AccessLineFormatter } from './line.js';
import { RotatingFileSink } from './rotating-file.js';
import { FdSink } from './sink.js';

const record = (i: number): AccessRecord => ({ direction: 'outbound', listener: 'b-http', protocol: 'http', method: 'GET', target: `/item/${i}`, status: 200, bytesIn: 0, bytesOut: 2, durationMs: 1, startedAt: 1_700_000_000_000 + i });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-al-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A clock whose timers only fire when the test says so. */
function manualClock(): Clock & { fire(): void; t: number } {
  const timers = new Set<() => void>();
  return {
    t: 0,
    now() {
      return this.t;
    },
    setTimeout(fn) {
      timers.add(fn);
      return { cancel: () => timers.delete(fn) };
    },
    sleep: () => Promise.resolve(),
    fire() {
      const all = [...timers];
      timers.clear();
      for (const fn of all) fn();
    },
  };
}

/** A sink that holds each write until the test releases it: a disk slower than the requests. */
function heldSink(): AccessLogSink & { chunks: string[]; release(err?: Error): void; waiting: number } {
  const queue: ((err: Error | null) => void)[] = [];
  return {
    rotations: 0,
    chunks: [],
    get waiting() {
      return queue.length;
    },
    write(chunk, done) {
      this.chunks.push(chunk.toString('utf8'));
      queue.push(done);
    },
    release(err) {
      queue.shift()?.(err ?? null);
    },
    close: () => Promise.resolve(),
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const write = (sink: RotatingFileSink, text: string): Promise<void> =>
  new Promise((resolve, reject) => sink.write(Buffer.from(text), (err) => (err === null ? resolve() : reject(err))));

test('rotation: before a batch would pass maxBytes the file becomes .1, .1 becomes .2, and only `keep` files stay', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'access.log');
    const sink = new RotatingFileSink(path, 100, 2);
    await write(sink, 'a'.repeat(59) + '\n');
    await write(sink, 'b'.repeat(39) + '\n'); // 100 bytes: fits exactly
    assert.deepEqual((await readdir(dir)).sort(), ['access.log']);
    await write(sink, 'c\n'); // 102 > 100: rotate first
    assert.deepEqual((await readdir(dir)).sort(), ['access.log', 'access.log.1']);
    assert.equal((await stat(`${path}.1`)).size, 100);
    assert.equal(await readFile(path, 'utf8'), 'c\n');
    await write(sink, 'd'.repeat(99) + '\n'); // 102 > 100
    await write(sink, 'e'.repeat(199) + '\n'); // larger than maxBytes: a file of its own
    await write(sink, 'f\n');
    assert.equal(sink.rotations, 4);
    assert.deepEqual((await readdir(dir)).sort(), ['access.log', 'access.log.1', 'access.log.2']);
    assert.equal(await readFile(path, 'utf8'), 'f\n');
    assert.equal(await readFile(`${path}.1`, 'utf8'), 'e'.repeat(199) + '\n');
    assert.equal(await readFile(`${path}.2`, 'utf8'), 'd'.repeat(99) + '\n');
    await sink.close();
  });
});

test('rotation: an existing file is appended to and its size counts', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'access.log');
    await writeFile(path, 'x'.repeat(90) + '\n');
    const sink = new RotatingFileSink(path, 100, 1);
    await write(sink, 'y'.repeat(20) + '\n');
    assert.equal(await readFile(`${path}.1`, 'utf8'), 'x'.repeat(90) + '\n');
    assert.equal(await readFile(path, 'utf8'), 'y'.repeat(20) + '\n');
    await sink.close();
  });
});

/** Counts writes in flight, so a test can wait until the disk has everything handed to it. */
function watched(inner: AccessLogSink): AccessLogSink & { settled(): Promise<void> } {
  let inFlight = 0;
  let wake: (() => void) | null = null;
  return {
    get rotations() {
      return inner.rotations;
    },
    write(chunk, done) {
      inFlight++;
      inner.write(chunk, (err) => {
        inFlight--;
        done(err);
        if (inFlight === 0) wake?.();
      });
    },
    close: () => inner.close(),
    settled: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => (wake = r))),
  };
}

test('nothing is lost or reordered across rotations: every line accepted is in exactly one file, whole', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'logs', 'access.log');
    const sink = watched(new RotatingFileSink(path, 4096, 1000));
    const clock = manualClock();
    const log = createAccessLog({ path, maxBytes: 4096, keep: 1000 }, { sink, clock });
    const n = 2000;
    for (let i = 0; i < n; ) {
      // Batches of 1 to 20 lines (each under maxBytes), flushed by the timer.
      const batch = 1 + ((i * 7919) % 20);
      for (let k = 0; k < batch && i < n; k++, i++) log.write(record(i));
      clock.fire();
      await sink.settled();
    }
    await log.close();
    const files = (await readdir(join(dir, 'logs'))).filter((f) => f.startsWith('access.log'));
    const rotated = files.filter((f) => f !== 'access.log').map((f) => Number(f.slice('access.log.'.length)));
    assert.ok(rotated.length >= 10, `expected many rotations, got ${rotated.length}`);
    assert.deepEqual(rotated.sort((a, b) => a - b), rotated.map((_, i) => i + 1), 'rotated files are .1 to .N with no gap');
    let text = '';
    for (const k of [...rotated].sort((a, b) => b - a)) {
      const f = `${path}.${k}`;
      const size = (await stat(f)).size;
      assert.ok(size <= 4096 && size > 4096 - 20 * 200, `${f}: ${size} bytes, rotated too late or too early`);
      const part = await readFile(f, 'utf8');
      assert.ok(part.endsWith('\n'), `${f} ends mid-line`);
      text += part;
    }
    text += await readFile(path, 'utf8');
    const targets = text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { target: string }).target);
    assert.deepEqual(targets, Array.from({ length: n }, (_, i) => `/item/${i}`));
    assert.deepEqual(log.stats(), { written: n, droppedBufferFull: 0, droppedWriteError: 0, rotations: rotated.length });
  });
});

test('a sink slower than the requests: lines over the buffer bound are dropped and counted, never queued, and one warning is logged', async () => {
  const sink = heldSink();
  const clock = manualClock();
  const warnings: Record<string, unknown>[] = [];
  // Exactly ten lines (records 1 to 10) fit in the buffer.
  const f = new AccessLineFormatter();
  let tenLines = 0;
  for (let i = 1; i <= 10; i++) tenLines += f.format(record(i)).length;
  const log = createAccessLog('stdout', {
    sink,
    clock,
    flushBytes: 1,
    maxBufferBytes: tenLines,
    warnIntervalMs: 10_000,
    logger: { warn: (fields) => void warnings.push(fields) },
  });
  log.write(record(0));
  await turn();
  assert.equal(sink.waiting, 1, 'the first line is being written');
  for (let i = 1; i <= 100; i++) log.write(record(i)); // the write never finishes meanwhile
  const s = log.stats();
  assert.equal(s.droppedBufferFull, 90, 'ten lines fit in the buffer, the other ninety are dropped');
  assert.equal(warnings.length, 1, 'one warning, not one per line');
  assert.equal(warnings[0]?.droppedBufferFull, 1);
  // The disk catches up: the buffered lines go out in one batch.
  sink.release();
  assert.equal(sink.waiting, 1);
  assert.equal(sink.chunks[1]?.split('\n').length, 11);
  clock.t = 20_000;
  sink.release();
  const closed = log.close();
  await closed;
  assert.deepEqual(log.stats(), { written: 11, droppedBufferFull: 90, droppedWriteError: 0, rotations: 0 });
  // The remaining 89 drops are told at close, in the same warning format.
  assert.equal(warnings.length, 2);
  assert.equal(warnings[1]?.droppedBufferFull, 89);
});

test('a failing sink: the batch is counted as dropped (write-error) and the next batch is tried', async () => {
  const sink = heldSink();
  const warnings: Record<string, unknown>[] = [];
  const log = createAccessLog('stdout', { sink, clock: manualClock(), flushBytes: 1, logger: { warn: (f) => void warnings.push(f) } });
  log.write(record(0));
  log.write(record(1));
  await turn();
  sink.release(new Error('ENOSPC: no space left on device'));
  log.write(record(2));
  await turn();
  sink.release();
  await log.close();
  assert.deepEqual(log.stats(), { written: 1, droppedBufferFull: 0, droppedWriteError: 2, rotations: 0 });
  assert.equal(warnings[0]?.droppedWriteError, 2);
  assert.match(String(warnings[0]?.err), /ENOSPC/);
});

test('close writes every line accepted, even with the flush timer never firing, and takes no more after', async () => {
  const sink = heldSink();
  const log = createAccessLog('stdout', { sink, clock: manualClock() });
  for (let i = 0; i < 5; i++) log.write(record(i));
  assert.equal(sink.chunks.length, 0, 'nothing written on the request path');
  const closed = log.close();
  log.write(record(99));
  await turn();
  sink.release();
  await closed;
  assert.equal(sink.chunks.join('').trim().split('\n').length, 5);
  assert.equal(log.stats().written, 5);
});

test('a sink that throws never throws out of write', async () => {
  const sink: AccessLogSink = {
    rotations: 0,
    write() {
      throw new Error('boom');
    },
    close: () => Promise.resolve(),
  };
  const log = createAccessLog('stdout', { sink, clock: manualClock(), flushBytes: 1 });
  log.write(record(0));
  await turn();
  log.write(record(1));
  await log.close();
  assert.equal(log.stats().droppedWriteError, 2);
});

test('the timer flushes a small batch', async () => {
  const sink = heldSink();
  const clock = manualClock();
  const log = createAccessLog('stdout', { sink, clock });
  log.write(record(0));
  log.write(record(1));
  await turn();
  assert.equal(sink.chunks.length, 0);
  clock.fire();
  assert.equal(sink.chunks.length, 1);
  assert.equal(sink.chunks[0]?.trim().split('\n').length, 2);
  sink.release();
  await log.close();
});

test('stdout-style destination: batches go to the file descriptor whole and in order', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'fd.log');
    const { open } = await import('node:fs/promises');
    const handle = await open(path, 'a');
    try {
      const log = createAccessLog('stdout', { sink: new FdSink(handle.fd), flushBytes: 512 });
      for (let i = 0; i < 200; i++) log.write(record(i));
      await log.close();
      const targets = (await readFile(path, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { target: string }).target);
      assert.deepEqual(targets, Array.from({ length: 200 }, (_, i) => `/item/${i}`));
    } finally {
      await handle.close();
    }
  });
});

test('multi-byte text and lines larger than a chunk come out whole, across chunk boundaries', async () => {
  const sink = heldSink();
  const clock = manualClock();
  const log = createAccessLog('stdout', { sink, clock, flushBytes: 1 << 30 });
  const targets: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const t = i % 500 === 7 ? `/big/${'é€😀'.repeat(30_000)}` : `/ü€😀/${i}`;
    targets.push(t);
    log.write({ ...record(i), target: t });
  }
  const closed = log.close();
  await turn();
  sink.release();
  await closed;
  assert.equal(sink.chunks.length, 1, 'one batch, however many chunks it took');
  const got = sink.chunks[0]!.trim().split('\n').map((l) => (JSON.parse(l) as { target: string }).target);
  assert.deepEqual(got, targets);
});
