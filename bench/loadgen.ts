/**
 * Open-loop (constant-rate) HTTP/1.1 load generator on raw `net` keep-alive connections.
 *
 * Why hand-written: wrk is closed-loop (it sends the next request only when the previous one
 * returned), so a proxy stall lowers the offered load and hides itself ("coordinated
 * omission"). Here request i is SCHEDULED at start + i/rate regardless of how earlier requests
 * went, and its latency is measured from that scheduled time to the last byte of its response,
 * as wrk2 and fortio do. A request that finds no idle connection waits in a FIFO queue, and the
 * wait counts. Each connection carries one request at a time (no pipelining).
 *
 * Timers in Node have millisecond resolution, so a request may leave up to ~1 ms after its
 * scheduled time; that generator lag is the same for every scenario and is reported
 * separately (`sendLag`), and the benchmark reports what each proxy pair ADDS over the
 * direct run at the same rate.
 *
 * Bounded: exactly rate*duration requests are scheduled, and the run ends at the latest
 * `drainMs` after the last scheduled send; anything still outstanding is counted as a timeout.
 */
import { connect, type Socket } from 'node:net';
import { Histogram } from './stats.js';

export interface OpenLoopOptions {
  host: string;
  port: number;
  path: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  connections: number;
  /** Extra time after the last scheduled send to wait for responses. */
  drainMs?: number;
}

export interface OpenLoopResult {
  scheduled: number;
  completed: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Completed requests divided by the measured window in seconds. */
  achievedRps: number;
  windowMs: number;
  /** Latency from the scheduled start, ms. */
  latency: Histogram;
  /** Latency from the actual write, ms (what a closed-loop tool would report). */
  service: Histogram;
  /** How late the generator wrote requests relative to their schedule, ms. */
  sendLag: Histogram;
}

interface Pending {
  index: number;
  scheduledNs: number;
}

/** Incremental HTTP/1.1 response parser for one connection: Content-Length and chunked bodies. */
class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  /** -1: reading head; >= 0 body bytes left (content-length); -2: chunked. */
  private bodyLeft = -1;
  private chunkLeft = 0;
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  closeAfter = false;

  /** Feeds bytes; returns the statuses of responses completed by them (in order). */
  feed(chunk: Buffer): number[] | Error {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const done: number[] = [];
    for (;;) {
      if (this.bodyLeft === -1) {
        const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) {
          if (this.buf.length > 65536) return new Error('response head too large');
          break;
        }
        const head = this.buf.toString('latin1', 0, end + 2).toLowerCase();
        this.buf = this.buf.subarray(end + 4);
        if (!head.startsWith('http/1.')) return new Error(`bad status line: ${head.slice(0, 40)}`);
        this.status = Number(head.slice(9, 12));
        this.closeAfter = /\r\nconnection:\s*close\r\n/.test(head);
        const te = /\r\ntransfer-encoding:\s*([^\r]*)\r\n/.exec(head);
        const cl = /\r\ncontent-length:\s*(\d+)\r\n/.exec(head);
        if (te !== null && te[1]!.includes('chunked')) {
          this.bodyLeft = -2;
          this.chunkState = 'size';
        } else if (cl !== null) {
          this.bodyLeft = Number(cl[1]);
        } else if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
          this.bodyLeft = 0;
        } else {
          return new Error('response without length (read-until-close is not supported)');
        }
      }
      if (this.bodyLeft >= 0) {
        const n = Math.min(this.bodyLeft, this.buf.length);
        this.bodyLeft -= n;
        this.buf = this.buf.subarray(n);
        if (this.bodyLeft > 0) break;
        this.bodyLeft = -1;
        if (this.status >= 100 && this.status < 200) continue; // interim response
        done.push(this.status);
        continue;
      }
      // chunked
      const finished = this.readChunks();
      if (finished instanceof Error) return finished;
      if (!finished) break;
      this.bodyLeft = -1;
      done.push(this.status);
    }
    return done;
  }

  private readChunks(): boolean | Error {
    for (;;) {
      if (this.chunkState === 'size') {
        const eol = this.buf.indexOf('\r\n', 0, 'latin1');
        if (eol < 0) return false;
        const size = parseInt(this.buf.toString('latin1', 0, eol).split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) return new Error('bad chunk size');
        this.buf = this.buf.subarray(eol + 2);
        if (size === 0) this.chunkState = 'trailer';
        else {
          this.chunkLeft = size;
          this.chunkState = 'data';
        }
      } else if (this.chunkState === 'data') {
        const n = Math.min(this.chunkLeft, this.buf.length);
        this.chunkLeft -= n;
        this.buf = this.buf.subarray(n);
        if (this.chunkLeft > 0) return false;
        this.chunkState = 'crlf';
      } else if (this.chunkState === 'crlf') {
        if (this.buf.length < 2) return false;
        this.buf = this.buf.subarray(2);
        this.chunkState = 'size';
      } else {
        // trailer section: lines until an empty line
        const eol = this.buf.indexOf('\r\n', 0, 'latin1');
        if (eol < 0) return false;
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) {
          this.chunkState = 'size';
          return true;
        }
      }
    }
  }
}

interface Conn {
  socket: Socket;
  reader: ResponseReader;
  current: Pending | null;
  sentNs: number;
  alive: boolean;
}

const nowNs = (): number => Number(process.hrtime.bigint());

export async function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const total = Math.max(1, Math.round((opts.rate * opts.durationMs) / 1000));
  const intervalNs = 1e9 / opts.rate;
  const drainMs = opts.drainMs ?? 5000;
  const request = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nhost: ${opts.host}:${opts.port}\r\nuser-agent: trellis-bench\r\n\r\n`, 'latin1');

  const latency = new Histogram(total);
  const service = new Histogram(total);
  const sendLag = new Histogram(total);
  let completed = 0;
  let errors = 0;
  let non2xx = 0;
  let lastDoneNs = 0;
  let reconnects = 0;
  const maxReconnects = opts.connections * 20;

  const queue: Pending[] = [];
  let qHead = 0;
  const idle: Conn[] = [];
  const conns = new Set<Conn>();
  let finished = false;
  let resolveDone: () => void = () => {};
  const allDone = new Promise<void>((r) => (resolveDone = r));
  let startNs = 0;
  let nextIndex = 0;

  const checkDone = (): void => {
    if (!finished && nextIndex >= total && completed + errors >= total) resolveDone();
  };

  const open = (): Promise<Conn> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: opts.host, port: opts.port, noDelay: true });
      const conn: Conn = { socket, reader: new ResponseReader(), current: null, sentNs: 0, alive: true };
      const onConnectError = (err: Error): void => reject(err);
      socket.once('error', onConnectError);
      socket.once('connect', () => {
        socket.off('error', onConnectError);
        socket.on('error', () => undefined);
        conns.add(conn);
        socket.on('data', (chunk: Buffer) => onData(conn, chunk));
        socket.on('close', () => onClose(conn));
        resolve(conn);
      });
    });

  const onData = (conn: Conn, chunk: Buffer): void => {
    const t = nowNs();
    const res = conn.reader.feed(chunk);
    if (res instanceof Error) {
      conn.socket.destroy();
      return;
    }
    for (const status of res) {
      const p = conn.current;
      if (p === null) continue; // unsolicited; ignore
      conn.current = null;
      if (!finished) {
        latency.record((t - p.scheduledNs) / 1e6);
        service.record((t - conn.sentNs) / 1e6);
        if (status < 200 || status >= 300) non2xx++;
        completed++;
        lastDoneNs = t;
      }
    }
    if (conn.current === null) {
      if (conn.reader.closeAfter) {
        conn.socket.destroy();
        return;
      }
      idle.push(conn);
      dispatch();
      checkDone();
    }
  };

  const onClose = (conn: Conn): void => {
    conn.alive = false;
    conns.delete(conn);
    const i = idle.indexOf(conn);
    if (i >= 0) idle.splice(i, 1);
    if (conn.current !== null) {
      if (!finished) errors++;
      conn.current = null;
      checkDone();
    }
    if (!finished && reconnects < maxReconnects) {
      reconnects++;
      open().then(
        (c) => {
          if (finished) c.socket.destroy();
          else {
            idle.push(c);
            dispatch();
          }
        },
        () => undefined,
      );
    }
  };

  const dispatch = (): void => {
    while (qHead < queue.length && idle.length > 0) {
      const conn = idle.shift()!;
      if (!conn.alive) continue;
      const p = queue[qHead++]!;
      conn.current = p;
      conn.sentNs = nowNs();
      sendLag.record((conn.sentNs - p.scheduledNs) / 1e6);
      conn.socket.write(request);
    }
    if (qHead > 4096 && qHead === queue.length) {
      queue.length = 0;
      qHead = 0;
    }
  };

  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    timer = null;
    if (finished) return;
    const elapsed = nowNs() - startNs;
    while (nextIndex < total && nextIndex * intervalNs <= elapsed) {
      queue.push({ index: nextIndex, scheduledNs: startNs + nextIndex * intervalNs });
      nextIndex++;
    }
    dispatch();
    if (nextIndex < total) {
      const waitMs = Math.max(0, Math.floor((nextIndex * intervalNs - (nowNs() - startNs)) / 1e6));
      timer = setTimeout(tick, waitMs);
    } else checkDone();
  };

  // Open the connections first (not timed), then start the schedule.
  const opened = await Promise.all(Array.from({ length: opts.connections }, () => open()));
  idle.push(...opened);
  startNs = nowNs();
  tick();

  const deadline = new Promise<void>((r) => {
    const t = setTimeout(r, opts.durationMs + drainMs);
    void allDone.then(() => clearTimeout(t));
  });
  await Promise.race([allDone, deadline]);
  finished = true;
  if (timer !== null) clearTimeout(timer);
  let outstanding = 0;
  for (const c of conns) if (c.current !== null) outstanding++;
  outstanding += queue.length - qHead + (total - nextIndex);
  for (const c of [...conns]) c.socket.destroy();
  const windowMs = lastDoneNs > startNs ? (lastDoneNs - startNs) / 1e6 : opts.durationMs;
  return {
    scheduled: total,
    completed,
    errors,
    timeouts: outstanding,
    non2xx,
    achievedRps: completed / (windowMs / 1000),
    windowMs,
    latency,
    service,
    sendLag,
  };
}
