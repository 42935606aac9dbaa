import pino from 'pino';


/** One line per finished HTTP exchange or TCP connection. */
export interface AccessRecord {
  direction: 'inbound' | 'outbound';
  listener: string;
  protocol: 'http' | 'http2' | 'tcp';
  method?: string;
  target?: string;
  status?: number;
  reason?: string;
  peerIdentity?: string;
  upstream?: string;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  /** epoch ms when the exchange started */
  startedAt: number;
  /** W3C trace id (32 lower-hex) of an HTTP exchange, when tracing is on. */
  traceId?: string | undefined;
  /** This proxy's span in that trace (16 lower-hex), when tracing is on. */
  spanId?: string | undefined;
}

export interface AccessLog {
  /** False when the log is off: callers skip building records at all. */
  readonly enabled: boolean;
  write(record: AccessRecord): void;
  /** Flushes and closes the destination. */
  close(): Promise<void>;
}

const OFF: AccessLog = {
  enabled: false,
  write() {},
  close: () => Promise.resolve(),
};

/**
 * destination: 'off' | 'stdout' | a file path (appended). Writes are asynchronous
 * (pino.destination, i.e. SonicBoom, with sync: false), so a slow disk never stalls the data path.
 */
export function createAccessLog(destination: string): AccessLog {
  if (destination === 'off' || destination === '') return OFF;
  const dest = pino.destination({ dest: destination === 'stdout' ? 1 : destination, sync: false, mkdir: true });
  let closing: Promise<void> | null = null;
  return {
    enabled: true,
    write(r) {
      if (closing !== null) return;
      // pino's SonicBoom destination buffers and writes asynchronously; the line is plain JSON
      dest.write(`${JSON.stringify({ time: new Date(r.startedAt).toISOString(), ...r, startedAt: undefined })}\n`);
    },
    close() {
      if (closing === null) {
        closing = new Promise((resolve) => {
          dest.once('close', () => resolve());
          dest.once('error', () => resolve());
          dest.end();
        });
      }
      return closing;
    },
  };
}
