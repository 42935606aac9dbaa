import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** A pino line rendered for a terminal: `trellis: warn: <msg> key=value ...` */
export function humanLine(json: string): string {
  try {
    const o = JSON.parse(json) as Record<string, unknown>;
    const { level, msg, time: _t, pid: _p, hostname: _h, ...rest } = o;
    const extras = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `trellis: ${LEVEL_NAMES[level as number] ?? String(level)}: ${String(msg ?? '')}${extras === '' ? '' : ` ${extras}`}\n`;
  } catch {
    return json;
  }
}

/**
 * Logger for the CLI's long-running commands: JSON lines at `level` into `file` (if given),
 * and human lines at `stderrLevel` on stderr (stdout is kept for machine-readable output).
 */
export function createLogger(opts: { level: LogLevel; file?: string; stderrLevel?: LogLevel }): Logger {
  const stderr = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') process.stderr.write(humanLine(line));
      cb();
    },
  });
  const stderrLevel = opts.stderrLevel === undefined || opts.stderrLevel === 'silent' ? 'warn' : opts.stderrLevel;
  const streams: pino.StreamEntry[] = [{ level: stderrLevel, stream: stderr }];
  if (opts.file !== undefined) streams.push({ level: opts.level === 'silent' ? 'fatal' : opts.level, stream: pino.destination({ dest: opts.file, append: true, sync: true }) });
  const min = opts.level === 'silent' ? 'silent' : opts.level;
  return pino({ level: min }, pino.multistream(streams));
}
