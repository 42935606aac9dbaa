import type http2 from 'node:http2';
import type { Logger } from 'pino';
import type { ProxyBootstrap } from '../../api/bootstrap.js';
import { PUSH_PATH_STREAM, PUSH_PING_INTERVAL_MS } from '../../api/push.js';
import type { ControlMessage, ProxyMessage, ProxyStatusReport } from '../../api/push.js';
import type { ProxySnapshot } from '../../api/snapshot.js';
import type { WorkloadCredentials } from '../../identity/workload-credentials.js';
import { Backoff } from './backoff.js';
import { controlPlaneTls, pushUrlsOf } from './certificates.js';
import { connectH2 } from './h2-json.js';
import { LineSplitter } from '../../util/ndjson.js';

export interface PushClientOptions {
  bootstrap: ProxyBootstrap;
  credentials: WorkloadCredentials;
  logger: Logger;
  /** Validates and applies a snapshot whole; returns null when applied, else the NACK error. */
  apply(snapshot: ProxySnapshot): string | null;
  status(): ProxyStatusReport;
  random?: () => number;
  pingIntervalMs?: number;
  statusIntervalMs?: number;
}

/**
 * The push stream: hello with the last applied version, then snapshots (ACK/NACK each),
 * pings both ways, status reports every 10 s and after each certificate rotation. When the stream dies it reconnects forever
 * while the proxy serves on its last good config: to the next control-plane replica at once
 * (bootstrap pushUrls), and after every replica was tried, with jittered exponential backoff
 * (100 ms..5 s). Versions are global across replicas, so the hello's lastVersion resumes
 * correctly wherever the proxy lands.
 */
export class PushClient {
  private lastVersion: number | null = null;
  private session: http2.ClientHttp2Session | null = null;
  private stream: http2.ClientHttp2Stream | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private readonly backoff: Backoff;
  private readonly urls: string[];
  /** The replica tried now (index into urls); kept while its stream lives. */
  private urlIndex = 0;
  /** Replicas tried since a stream last opened: backoff starts once all of them failed. */
  private failedInRow = 0;
  private firstResolve: (() => void) | null = null;
  /** Resolves when the first snapshot has been applied. */
  readonly firstSnapshot: Promise<void>;
  connected = false;

  /**
   * A rotated certificate is reported at once: the control plane's view (GET /proxies,
   * `trellis check`) must not wait for the next 10 s status to see it.
   */
  private readonly onRotated = (): void => this.sendStatus();

  constructor(private readonly o: PushClientOptions) {
    this.backoff = new Backoff(o.random ?? Math.random);
    this.urls = pushUrlsOf(o.bootstrap);
    this.firstSnapshot = new Promise((resolve) => {
      this.firstResolve = resolve;
    });
  }

  get version(): number | null {
    return this.lastVersion;
  }

  /** The push URL in use (or tried next). */
  get url(): string {
    return this.urls[this.urlIndex] as string;
  }

  start(): void {
    this.o.credentials.on('rotated', this.onRotated);
    void this.connect();
  }

  /** Sends a status report now (also sent on hello and every 10 s). */
  sendStatus(): void {
    this.send({ type: 'status', status: this.o.status() });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const { bootstrap, credentials } = this.o;
    const bundle = credentials.trustBundlePem.length > 0 ? credentials.trustBundlePem : bootstrap.controlPlane.trustBundlePem;
    let session: http2.ClientHttp2Session;
    try {
      session = await connectH2(this.url, controlPlaneTls(bootstrap, credentials.current, bundle), 5_000);
    } catch (err) {
      this.retry((err as Error).message);
      return;
    }
    if (this.stopped) {
      session.destroy();
      return;
    }
    this.session = session;
    session.once('close', () => this.onDead(session, 'session closed'));
    session.once('goaway', () => this.onDead(session, 'GOAWAY'));
    const stream = session.request({ ':method': 'POST', ':path': PUSH_PATH_STREAM, 'content-type': 'application/x-ndjson' });
    this.stream = stream;
    stream.setEncoding('utf8');
    stream.on('error', () => {});
    stream.once('response', (h) => {
      const status = Number(h[':status'] ?? 0);
      if (status !== 200) {
        this.o.logger.warn({ status, url: this.url }, 'push stream refused');
        session.destroy();
      } else {
        this.failedInRow = 0;
      }
    });
    // No length limit: a snapshot line grows with the mesh (1.5 MB for 10,000 endpoints).
    const lines = new LineSplitter((line) => this.onLine(line), Infinity);
    stream.on('data', (chunk: string) => {
      this.lastHeard = Date.now();
      lines.push(chunk);
    });
    stream.once('close', () => this.onDead(session, 'stream closed'));
    this.lastHeard = Date.now();
    this.connected = true;
    this.send({ type: 'hello', nodeId: bootstrap.node.id, lastVersion: this.lastVersion, status: this.o.status() });
    const ping = this.o.pingIntervalMs ?? PUSH_PING_INTERVAL_MS;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * ping) {
        this.o.logger.warn('push stream silent for three ping intervals; reconnecting');
        session.destroy();
        return;
      }
      this.send({ type: 'ping' });
    }, ping);
    this.statusTimer = setInterval(() => this.sendStatus(), this.o.statusIntervalMs ?? 10_000);
    this.o.logger.info({ url: this.url }, 'push stream open');
  }

  private onLine(line: string): void {
    let msg: ControlMessage;
    try {
      msg = JSON.parse(line) as ControlMessage;
    } catch {
      this.o.logger.warn({ line: line.slice(0, 200) }, 'push stream: unparsable line ignored');
      return;
    }
    if (msg.type === 'ping') return;
    if (msg.type !== 'snapshot') return;
    const version = typeof msg.snapshot?.version === 'number' ? msg.snapshot.version : -1;
    let error: string | null;
    try {
      error = this.o.apply(msg.snapshot);
    } catch (err) {
      error = `apply failed: ${(err as Error).message}`;
    }
    if (error !== null) {
      this.o.logger.warn({ version, error }, 'snapshot rejected (NACK); keeping the last good config');
      this.send({ type: 'nack', version, error });
      return;
    }
    this.lastVersion = version;
    this.backoff.reset();
    this.send({ type: 'ack', version });
    this.o.logger.info({ version }, 'snapshot applied');
    const r = this.firstResolve;
    this.firstResolve = null;
    r?.();
  }

  private send(msg: ProxyMessage): void {
    const s = this.stream;
    if (s === null || s.destroyed || s.writableEnded) return;
    s.write(`${JSON.stringify(msg)}\n`);
  }

  private onDead(session: http2.ClientHttp2Session, why: string): void {
    if (this.session !== session) return;
    this.session = null;
    this.stream = null;
    this.connected = false;
    this.clearTimers();
    session.destroy();
    this.retry(why);
  }

  private retry(why: string): void {
    if (this.stopped) return;
    const from = this.url;
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.failedInRow++;
    // Another replica is worth trying at once; after all of them failed, back off.
    const delay = this.failedInRow < this.urls.length ? 0 : this.backoff.next();
    if (this.failedInRow >= this.urls.length) this.failedInRow = 0;
    this.o.logger.warn({ why, url: from, next: this.url, retryInMs: delay }, 'control plane unreachable; serving on the last good config');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  private clearTimers(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.statusTimer !== null) clearInterval(this.statusTimer);
    this.pingTimer = null;
    this.statusTimer = null;
  }

  stop(): void {
    this.stopped = true;
    this.o.credentials.removeListener('rotated', this.onRotated);
    this.clearTimers();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const s = this.session;
    this.session = null;
    s?.destroy();
  }
}
