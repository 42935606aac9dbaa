import { constants } from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Logger } from 'pino';
import type { ControlMessage, ProxyStatusReport } from '../../api/push.js';
import { parseJson, proxyMessageSchema, statusSchema, validate } from '../api/schemas.js';
import { LineSplitter } from '../../util/ndjson.js';
import type { ProxyState, ProxyTracker } from './proxy-tracker.js';
import { sendError } from './respond.js';
import { snapshotMessage, type EncodableSnapshot } from './snapshot-message.js';

export interface PushStreamOptions {
  /** Verified SPIFFE ID of the client certificate. */
  peer: string;
  clock: () => number;
  pingIntervalMs: number;
  logger: Logger;
  tracker: ProxyTracker;
  /** May this peer speak for nodeId? */
  authorize: (nodeId: string) => boolean;
  current: (nodeId: string) => EncodableSnapshot | undefined;
  /**
   * Called when a proxy says it runs a newer version than this replica has compiled (it comes
   * from a replica that was ahead): resolves once this replica has caught up with the store
   * and compiled, so the proxy is not sent back to older content. Absent: no waiting.
   */
  catchUp?: () => Promise<void>;
  onPushed: () => void;
  onOpen: (nodeId: string, s: PushStream) => void;
  onClose: (nodeId: string, s: PushStream) => void;
}

/** The lines a proxy writes for a ping and an ACK (JSON.stringify of the message). */
const PING_LINE = '{"type":"ping"}';
const ACK_LINE = /^\{"type":"ack","version":(\d{1,15})\}$/;

/**
 * One proxy's push stream. Response headers wait for the proxy's `hello` (so a node the
 * certificate may not speak for gets a 403). Then: the current snapshot unless the proxy
 * already runs it, every later one as it is compiled, acks/nacks/status recorded in the
 * tracker, pings both ways, and the stream is dropped after three silent intervals.
 */
export class PushStream {
  private nodeId: string | null = null;
  /** The version the proxy is known to run or to have been sent: never sent again. */
  private known: number | null = null;
  private lastHeard: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly req: Http2ServerRequest,
    private readonly res: Http2ServerResponse,
    private readonly o: PushStreamOptions,
  ) {
    this.lastHeard = o.clock();
  }

  start(): void {
    const lines = new LineSplitter((line) => this.onLine(line));
    this.req.setEncoding('utf8');
    this.req.on('data', (chunk: string) => {
      this.lastHeard = this.o.clock();
      if (!lines.push(chunk)) this.fail('line too long');
    });
    this.req.on('end', () => this.close());
    this.res.on('close', () => this.close());
    this.res.on('error', () => this.close());
    this.timer = setInterval(() => this.tick(), this.o.pingIntervalMs);
    this.timer.unref();
  }

  sendSnapshot(compiled: EncodableSnapshot): void {
    const version = compiled.snapshot.version;
    if (this.nodeId === null || version === this.known) return;
    this.known = version;
    const st = this.o.tracker.get(this.nodeId);
    if (st !== undefined) st.sentVersion = version;
    if (this.closed || this.res.writableEnded) return;
    this.res.write(snapshotMessage(compiled));
    this.o.onPushed();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (!this.res.headersSent) sendError(this.res, 503, 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE', 'stream closed');
    else if (!this.res.writableEnded) {
      // End our half, then reset the stream so the proxy stops sending and sees the end.
      this.res.end(() => {
        if (!this.res.stream.destroyed) this.res.stream.close(constants.NGHTTP2_NO_ERROR);
      });
    }
    if (this.nodeId !== null) this.o.onClose(this.nodeId, this);
  }

  private send(msg: ControlMessage): void {
    if (this.closed || this.res.writableEnded) return;
    this.res.write(`${JSON.stringify(msg)}\n`);
  }

  private tick(): void {
    if (this.o.clock() - this.lastHeard > 3 * this.o.pingIntervalMs) {
      this.o.logger.warn({ nodeId: this.nodeId }, 'push: stream silent for three ping intervals, dropping it');
      this.close();
      return;
    }
    if (this.nodeId !== null) this.send({ type: 'ping' });
  }

  private fail(message: string, status = 400): void {
    this.o.logger.warn({ nodeId: this.nodeId, peer: this.o.peer, message }, 'push: bad stream message');
    if (!this.res.headersSent) sendError(this.res, status, status === 403 ? 'TRELLIS_E_UNAUTHORIZED' : 'TRELLIS_E_CONFIG', message);
    this.close();
  }

  private onLine(line: string): void {
    if (this.closed) return;
    // Every proxy ACKs every snapshot and pings every few seconds: a thousand proxies send
    // thousands of these lines right after a push. Exactly the bytes a proxy writes for them
    // are handled without the schema (tens of microseconds each); anything else goes through it.
    if (this.nodeId !== null) {
      if (line === PING_LINE) {
        this.heard();
        return;
      }
      const ack = ACK_LINE.exec(line);
      if (ack !== null) {
        this.ack(this.heard(), Number(ack[1]));
        return;
      }
    }
    const parsed = parseJson(proxyMessageSchema, line);
    if (!parsed.ok) {
      this.fail(parsed.message);
      return;
    }
    const msg = parsed.value;
    if (this.nodeId === null) {
      if (msg.type !== 'hello') {
        this.fail('type: the first message must be hello');
        return;
      }
      if (!this.o.authorize(msg.nodeId)) {
        this.fail(`certificate ${this.o.peer} may not act for node ${msg.nodeId}`, 403);
        return;
      }
      this.hello(msg.nodeId, msg.lastVersion, msg.status);
      return;
    }
    const st = this.heard();
    switch (msg.type) {
      case 'hello':
        this.fail('type: hello was already sent');
        return;
      case 'ack':
        this.ack(st, msg.version);
        return;
      case 'nack':
        st.nack = { version: msg.version, error: msg.error };
        this.o.logger.warn({ nodeId: this.nodeId, version: msg.version, error: msg.error }, 'proxy rejected a snapshot');
        return;
      case 'status':
        this.status(msg.status);
        return;
      case 'ping':
        return;
    }
  }

  private heard(): ProxyState {
    const st = this.o.tracker.ensure(this.nodeId as string, this.o.peer);
    st.lastSeen = this.o.clock();
    return st;
  }

  private ack(st: ProxyState, version: number): void {
    st.ackedVersion = version;
    if (st.nack !== null && st.nack.version <= version) st.nack = null;
  }

  private hello(nodeId: string, lastVersion: number | null, status: unknown): void {
    this.nodeId = nodeId;
    const st = this.o.tracker.ensure(nodeId, this.o.peer);
    st.connected = true;
    st.lastSeen = this.o.clock();
    this.status(status);
    this.o.onOpen(nodeId, this);
    this.res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    this.known = lastVersion;
    const snap = this.o.current(nodeId);
    if (lastVersion !== null && (snap === undefined || lastVersion > snap.snapshot.version) && this.o.catchUp !== undefined) {
      // Versions are global (from the store): a higher one, or one for a node this replica has
      // not compiled yet, was compiled by a replica that is ahead of this one. Catch up first
      // rather than send the proxy back to older content.
      this.o.catchUp().then(
        () => this.resume(nodeId, lastVersion),
        (err: unknown) => {
          // This replica cannot reach the store: what it has is older than what the proxy runs.
          // Send nothing; once it catches up, its passes push anything newer (and skip the
          // version the proxy has).
          this.o.logger.warn({ nodeId, err: (err as Error).message }, 'push: catching up with the store failed; the proxy keeps its newer version');
        },
      );
    } else {
      this.resume(nodeId, lastVersion);
    }
    this.o.logger.info({ nodeId, identity: this.o.peer, lastVersion }, 'proxy connected');
  }

  /** After hello: the current snapshot unless the proxy already runs it. */
  private resume(nodeId: string, lastVersion: number | null): void {
    if (this.closed) return;
    const snap = this.o.current(nodeId);
    if (snap === undefined) return;
    if (lastVersion !== null && lastVersion === snap.snapshot.version) {
      // The proxy already runs the current snapshot: nothing to send, it is in sync.
      const st = this.o.tracker.ensure(nodeId, this.o.peer);
      st.sentVersion = lastVersion;
      st.ackedVersion = lastVersion;
      return;
    }
    this.sendSnapshot(snap);
  }

  private status(raw: unknown): void {
    if (this.nodeId === null) return;
    const v = validate(statusSchema, raw);
    if (v.ok) this.o.tracker.ensure(this.nodeId, this.o.peer).status = v.value satisfies ProxyStatusReport;
  }
}
