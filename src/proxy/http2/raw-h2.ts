import net from 'node:net';
import tls from 'node:tls';

/**
 * Test and bench support: HTTP/2 written by hand over a raw TCP socket, to send what no
 * well-behaved client sends (floods, over-limit header lists, malformed fields, a bare preface)
 * and to read exactly which frames the server answers with.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  Data: 0x0,
  Headers: 0x1,
  Priority: 0x2,
  RstStream: 0x3,
  Settings: 0x4,
  PushPromise: 0x5,
  Ping: 0x6,
  Goaway: 0x7,
  WindowUpdate: 0x8,
  Continuation: 0x9,
} as const;

export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4, Padded: 0x8, Priority: 0x20 } as const;

export const ErrorCode = {
  NoError: 0x0,
  ProtocolError: 0x1,
  InternalError: 0x2,
  FlowControlError: 0x3,
  RefusedStream: 0x7,
  Cancel: 0x8,
  CompressionError: 0x9,
  EnhanceYourCalm: 0xb,
} as const;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export function settingsFrame(entries: readonly (readonly [number, number])[] = [], ack = false): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.Settings, ack ? Flag.Ack : 0, 0, p);
}

export function headersFrame(streamId: number, block: Uint8Array, opts: { endStream?: boolean; endHeaders?: boolean; padding?: number } = {}): Buffer {
  let flags = opts.endHeaders === false ? 0 : Flag.EndHeaders;
  if (opts.endStream !== false) flags |= Flag.EndStream;
  if (opts.padding !== undefined) {
    flags |= Flag.Padded;
    return frame(FrameType.Headers, flags, streamId, Buffer.concat([Buffer.from([opts.padding]), block, Buffer.alloc(opts.padding)]));
  }
  return frame(FrameType.Headers, flags, streamId, block);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RstStream, 0, streamId, p);
}

export function pingFrame(data = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.Ping, ack ? Flag.Ack : 0, 0, data);
}

export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** The error code of a RST_STREAM or GOAWAY frame. */
export function errorCodeOf(f: RawFrame): number {
  return f.type === FrameType.Goaway ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}

/**
 * One raw connection: sends the preface and an empty SETTINGS at once (unless `preface: false`),
 * ACKs the server's SETTINGS when `ackSettings` (default true), and records every frame the
 * server sends. `closed` resolves when the socket closes, whoever closed it.
 */
export class RawH2Client {
  readonly frames: RawFrame[] = [];
  readonly closed: Promise<void>;
  private buffered: Buffer = Buffer.alloc(0);
  private waiters: { pred: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void }[] = [];

  private constructor(
    readonly socket: net.Socket | tls.TLSSocket,
    private readonly ackSettings: boolean,
  ) {
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** `tls`: connect with TLS and ALPN h2 (the server's certificate is not checked). */
  static async connect(port: number, opts: { preface?: boolean; ackSettings?: boolean; tls?: boolean } = {}): Promise<RawH2Client> {
    const socket =
      opts.tls === true
        ? tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], rejectUnauthorized: false })
        : net.connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls === true ? 'secureConnect' : 'connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawH2Client(socket, opts.ackSettings !== false);
    if (opts.preface !== false) c.write(Buffer.concat([PREFACE, settingsFrame()]));
    return c;
  }

  write(data: Uint8Array): boolean {
    return this.socket.destroyed ? false : this.socket.write(data);
  }

  /** Resolves with the first frame (already received or to come) matching `pred`; rejects if the socket closes first. */
  waitFor(pred: (f: RawFrame) => boolean): Promise<RawFrame> {
    const seen = this.frames.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ pred, resolve });
      void this.closed.then(() => reject(new Error('connection closed before the frame arrived')));
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) break;
      const f: RawFrame = {
        type: this.buffered[3]!,
        flags: this.buffered[4]!,
        streamId: this.buffered.readUInt32BE(5) & 0x7fffffff,
        payload: this.buffered.subarray(9, 9 + length),
      };
      this.buffered = this.buffered.subarray(9 + length);
      this.frames.push(f);
      if (f.type === FrameType.Settings && (f.flags & Flag.Ack) === 0 && this.ackSettings) this.write(settingsFrame([], true));
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true;
        w.resolve(f);
        return false;
      });
    }
  }
}
