import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface LoggerOptions {
  level: LogLevel;
  /** Fields on every line (e.g. node id). */
  base?: Record<string, unknown>;
  /** File descriptor to write to; 2 (stderr) unless a test wants something else. */
  fd?: number;
}

/** The process logger: JSON lines on stderr (stdout may carry the access log). */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    { level: options.level, base: options.base ?? null, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: options.fd ?? 2, sync: true }),
  );
}

/** A logger that writes nothing (tests, and components built without one). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
