import { pino } from 'pino';
import type { Logger } from 'pino';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** The control plane's logger: JSON lines on stderr at `level`. */
export function createLogger(level: string): Logger {
  return pino({ name: 'trellis-control-plane', level: LEVELS.has(level) ? level : 'info' }, pino.destination({ fd: 2, sync: false }));
}
