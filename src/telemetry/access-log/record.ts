/** One line per finished HTTP exchange or TCP connection. */
export interface AccessRecord {
  direction: 'inbound' | 'outbound';
  listener: string;
  protocol: 'http' | 'http2' | 'tcp';
  method?: string | undefined;
  target?: string | undefined;
  status?: number | undefined;
  reason?: string | undefined;
  peerIdentity?: string | undefined;
  upstream?: string | undefined;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  /** epoch ms when the exchange started */
  startedAt: number;
  /** W3C trace id (32 lower-hex) of an HTTP exchange, when tracing is on. */
  traceId?: string | undefined;
  /** This proxy's span in that trace (16 lower-hex), when tracing is on. */
  spanId?: string | undefined;
  /** Inbound: what decided authorization (`<ns>/<name>`, `default`, `health-check`). */
  policy?: string | undefined;
  /** Inbound: the AUDIT policy that matched. */
  audit?: string | undefined;
  /** Inbound: the RateLimitPolicy over its limit (429 `rate-limited`, or admitted in shadow mode). */
  rateLimit?: string | undefined;
}

/** What the access log did since it started (read by the metrics at scrape time). */
export interface AccessLogStats {
  /** Lines handed to the destination and written. */
  written: number;
  /** Lines refused because the buffer was full (the destination is slower than the requests). */
  droppedBufferFull: number;
  /** Lines lost because the destination failed to take them (disk full, permissions...). */
  droppedWriteError: number;
  /** Times the file was rotated. */
  rotations: number;
}

export interface AccessLog {
  /** False when the log is off: callers skip building records at all. */
  readonly enabled: boolean;
  /** Never blocks and never throws: the line is buffered, or counted as dropped. */
  write(record: AccessRecord): void;
  /** Writes every line accepted so far, then closes the destination; later writes are ignored. */
  close(): Promise<void>;
  stats(): AccessLogStats;
}
