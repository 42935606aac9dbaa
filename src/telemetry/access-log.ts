import type { AccessLogFileConfig } from '../api/bootstrap.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { BatchWriter } from './access-log/batch-writer.js';
import { ACCESS_LOG_DEFAULTS } from './access-log/defaults.js';
import { AccessLineFormatter } from './access-log/line.js';
import type { AccessLog, AccessLogStats } from './access-log/record.js';
import { RotatingFileSink } from './access-log/rotating-file.js';
import { FdSink } from './access-log/sink.js';
import type { AccessLogSink } from './access-log/sink.js';

export type { AccessLog, AccessLogStats, AccessRecord } from './access-log/record.js';
export type { AccessLogSink } from './access-log/sink.js';
export { ACCESS_LOG_DEFAULTS } from './access-log/defaults.js';

/** `off`, `stdout`, a file path (rotated with the defaults), or a file with its rotation. */
export type AccessLogDestination = string | AccessLogFileConfig;

export interface AccessLogDeps {
  /** Told about dropped lines, at most once per `warnIntervalMs` (the proxy's pino logger). */
  logger?: { warn(fields: Record<string, unknown>, message: string): void };
  clock?: Clock;
  /** Replaces the destination (tests: a slow or failing sink). */
  sink?: AccessLogSink;
  flushBytes?: number;
  flushIntervalMs?: number;
  maxBufferBytes?: number;
  warnIntervalMs?: number;
}

const ZERO: AccessLogStats = { written: 0, droppedBufferFull: 0, droppedWriteError: 0, rotations: 0 };

const OFF: AccessLog = {
  enabled: false,
  write() {},
  close: () => Promise.resolve(),
  stats: () => ZERO,
};

/**
 * The proxy's access log (docs/operations.md, "Access log"). Each record becomes one JSON line
 * (AccessLineFormatter) appended to a bounded buffer; batches are written off the request path
 * (BatchWriter) to stdout or to a size-rotated file (RotatingFileSink). `off` costs nothing.
 */
export function createAccessLog(destination: AccessLogDestination, deps: AccessLogDeps = {}): AccessLog {
  if (destination === 'off' || destination === '') return OFF;
  const sink = deps.sink ?? sinkFor(destination);
  const writer = new BatchWriter(sink, {
    flushBytes: deps.flushBytes ?? ACCESS_LOG_DEFAULTS.flushBytes,
    flushIntervalMs: deps.flushIntervalMs ?? ACCESS_LOG_DEFAULTS.flushIntervalMs,
    maxBufferBytes: deps.maxBufferBytes ?? ACCESS_LOG_DEFAULTS.maxBufferBytes,
    warnIntervalMs: deps.warnIntervalMs ?? ACCESS_LOG_DEFAULTS.warnIntervalMs,
    clock: deps.clock ?? systemClock,
    warn: (fields, message) => deps.logger?.warn(fields, message),
  });
  const formatter = new AccessLineFormatter();
  return {
    enabled: true,
    write(record) {
      writer.push(formatter.format(record));
    },
    close: () => writer.close(),
    stats: () => ({ written: writer.written, droppedBufferFull: writer.droppedBufferFull, droppedWriteError: writer.droppedWriteError, rotations: sink.rotations }),
  };
}

function sinkFor(destination: AccessLogDestination): AccessLogSink {
  if (destination === 'stdout') return new FdSink(1);
  const file = typeof destination === 'string' ? { path: destination, maxBytes: ACCESS_LOG_DEFAULTS.maxBytes, keep: ACCESS_LOG_DEFAULTS.keep } : destination;
  return new RotatingFileSink(file.path, file.maxBytes, file.keep);
}
