import http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import type { Socket } from 'node:net';
import { encodeTraces, OTLP_TRACES_PATH, type OtlpResource } from './otlp.js';
import type { SpanRecord } from './span.js';

/**
 * Batching OTLP/HTTP JSON span exporter (the job of OpenTelemetry's BatchSpanProcessor plus
 * OTLPTraceExporter, without the SDK; see otlp.ts for why).
 *
 * `export()` only puts a span in a bounded ring (the oldest is dropped and counted when it is
 * full): no I/O, no encoding, no promise on the caller's path. Batches go out one request at a
 * time, when a batch is full or on the flush interval. A failed or timed-out request drops its
 * batch (counted; no retries, so a down collector costs a bounded amount of memory and work).
 * Nothing here throws into callers, and neither the timer nor a background request keeps the
 * process alive; `shutdown()` sends what is queued and waits for it.
 */

export interface OtlpExporterOptions {
  /**
   * Collector URL, http or https. `/v1/traces` is appended unless the path already ends with
   * it (OTEL_EXPORTER_OTLP_ENDPOINT vs OTEL_EXPORTER_OTLP_TRACES_ENDPOINT semantics).
   */
  readonly endpoint: string;
  readonly resource: OtlpResource;
  /** Most spans per request (default 512, as OpenTelemetry's BatchSpanProcessor). */
  readonly maxBatchSize?: number;
  /** Most spans waiting; beyond it the oldest are dropped (default 2048). */
  readonly maxQueueSize?: number;
  /** A partial batch is sent after at most this long (default 5000 ms). */
  readonly flushIntervalMs?: number;
  /** Whole request, connect to response end (default 10000 ms). */
  readonly timeoutMs?: number;
  /** Extra request headers (e.g. authorization for a hosted collector). */
  readonly headers?: Readonly<Record<string, string>>;
  /** TLS options for an https collector (e.g. the control plane's: its CA and identity check); default Node's. */
  readonly tls?: ConnectionOptions;
  /** Told about each failed request (for a warn log line); must not throw. */
  readonly onError?: (message: string) => void;
}

export interface ExporterStats {
  /** Spans waiting in the queue. */
  readonly queued: number;
  /** Spans the collector accepted. */
  readonly exported: number;
  /** Spans lost: queue overflow, failed requests, collector rejections, export after shutdown. */
  readonly dropped: number;
  /** Requests that failed (network error, timeout, non-2xx). */
  readonly failedRequests: number;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

export class OtlpHttpExporter {
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly resource: OtlpResource;
  private readonly maxBatchSize: number;
  private readonly timeoutMs: number;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly onError: ((message: string) => void) | undefined;
  /** Ring of waiting spans: `count` of them from `head`. */
  private readonly ring: (SpanRecord | undefined)[];
  private head = 0;
  private count = 0;
  private exported = 0;
  private dropped = 0;
  private failedRequests = 0;
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> | null = null;
  /** The socket of the request in flight, so flush() can keep the process alive for it. */
  private socket: Socket | null = null;
  /** flush() calls waiting: while any, request sockets stay referenced. */
  private flushers = 0;
  private kickScheduled = false;
  private closed = false;

  /** Throws on invalid options (at start-up, never per span). */
  constructor(options: OtlpExporterOptions) {
    this.url = new URL(options.endpoint);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`OTLP endpoint must be http or https: ${options.endpoint}`);
    if (!this.url.pathname.endsWith(OTLP_TRACES_PATH)) this.url.pathname = this.url.pathname.replace(/\/$/, '') + OTLP_TRACES_PATH;
    this.transport = this.url.protocol === 'https:' ? https : http;
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 1, ...options.tls }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.resource = options.resource;
    this.maxBatchSize = positive('maxBatchSize', options.maxBatchSize ?? 512);
    const maxQueueSize = positive('maxQueueSize', options.maxQueueSize ?? 2048);
    this.ring = new Array<SpanRecord | undefined>(Math.max(maxQueueSize, this.maxBatchSize));
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 10_000);
    this.headers = options.headers ?? {};
    this.onError = options.onError;
    this.timer = setInterval(this.onTick, positive('flushIntervalMs', options.flushIntervalMs ?? 5000));
    this.timer.unref();
  }

  /** Queues a finished span. Cheap, synchronous, never throws. */
  export(span: SpanRecord): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    const size = this.ring.length;
    if (this.count === size) {
      // Full: the oldest span goes (recent ones are worth more to someone debugging now).
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % size;
      this.count--;
      this.dropped++;
    }
    this.ring[(this.head + this.count) % size] = span;
    this.count++;
    if (this.count >= this.maxBatchSize && this.sending === null && !this.kickScheduled) {
      // Encode and send outside the caller's (a forwarder's) call stack.
      this.kickScheduled = true;
      setImmediate(this.onKick).unref();
    }
  }

  stats(): ExporterStats {
    return { queued: this.count, exported: this.exported, dropped: this.dropped, failedRequests: this.failedRequests };
  }

  /** Sends everything queued now; resolves when done (never rejects). */
  async flush(): Promise<void> {
    this.flushers++;
    this.socket?.ref();
    try {
      while (this.sending !== null) await this.sending;
      if (this.count > 0) await this.start(this.count);
    } finally {
      this.flushers--;
    }
  }

  /** Stops the timer, sends what is queued, closes connections. Later spans are dropped. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    this.agent.destroy();
  }

  private readonly onTick = (): void => {
    if (this.sending === null && this.count > 0) void this.start(this.count);
  };

  private readonly onKick = (): void => {
    this.kickScheduled = false;
    if (this.sending === null && this.count >= this.maxBatchSize) void this.start(this.count - (this.count % this.maxBatchSize));
  };

  /** Sends up to `limit` queued spans in batches (bounded, so a busy proxy cannot keep a flush going forever). */
  private start(limit: number): Promise<void> {
    const run = async (): Promise<void> => {
      let left = limit;
      while (left > 0 && this.count > 0) {
        const batch = this.take(Math.min(left, this.maxBatchSize));
        left -= batch.length;
        await this.send(batch);
      }
    };
    const p = run().finally(() => {
      this.sending = null;
      // Full batches that queued up meanwhile go now, not at the next export() or tick.
      if (this.count >= this.maxBatchSize && !this.closed) this.onKick();
    });
    this.sending = p;
    return p;
  }

  private take(n: number): SpanRecord[] {
    const size = this.ring.length;
    const batch = new Array<SpanRecord>(Math.min(n, this.count));
    for (let i = 0; i < batch.length; i++) {
      batch[i] = this.ring[this.head]!;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % size;
    }
    this.count -= batch.length;
    return batch;
  }

  private async send(batch: SpanRecord[]): Promise<void> {
    let body: string;
    try {
      body = JSON.stringify(encodeTraces(this.resource, batch));
    } catch (err) {
      this.fail(batch.length, `encoding spans failed: ${(err as Error).message}`);
      return;
    }
    const result = await this.post(body);
    if (result.error !== undefined) {
      this.fail(batch.length, result.error);
      return;
    }
    const rejected = Math.min(result.rejected, batch.length);
    this.exported += batch.length - rejected;
    this.dropped += rejected;
  }

  private fail(spans: number, message: string): void {
    this.failedRequests++;
    this.dropped += spans;
    try {
      this.onError?.(`OTLP export to ${this.url.href} failed, ${spans} spans dropped: ${message}`);
    } catch {
      // A logger that throws must not break exporting.
    }
  }

  /** One POST; resolves with an error message or the collector's count of rejected spans. */
  private post(body: string): Promise<{ error?: string; rejected: number }> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: { error?: string; rejected: number }): void => {
        if (settled) return;
        settled = true;
        this.socket = null;
        resolve(r);
      };
      const req = this.transport.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...this.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('socket', (socket: Socket) => {
        this.socket = socket;
        if (this.flushers === 0) socket.unref();
      });
      req.on('error', (err) => done({ error: err.message, rejected: 0 }));
      // Closed before the response ended (e.g. reset mid-body) with no error event.
      req.on('close', () => done({ error: 'connection closed before the response ended', rejected: 0 }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on('error', (err) => done({ error: err.message, rejected: 0 }));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) done({ error: `collector answered ${status}`, rejected: 0 });
          else done({ rejected: rejectedSpans(Buffer.concat(chunks)) });
        });
      });
      req.end(body);
    });
  }
}

/** `partialSuccess.rejectedSpans` of an ExportTraceServiceResponse (0 when absent or unreadable). */
function rejectedSpans(body: Buffer): number {
  if (body.length === 0) return 0;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { partialSuccess?: { rejectedSpans?: unknown } } | null;
    const n = Number(parsed?.partialSuccess?.rejectedSpans ?? 0);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
