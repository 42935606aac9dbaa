/**
 * What to show of a log when a process failed to start: its error message, and its last lines.
 *
 * The last lines alone mislead: Node prints an uncaught error as its message line, then up to
 * ten stack frames, the error's properties and its version, so the last ten lines are stack
 * frames and the cause (`RangeError [ERR_SOCKET_BAD_PORT]: ... Received type number (NaN).`)
 * is cut off. So the last line that starts an error report is found and shown first, with the
 * lines Node prints above it (the `file:line`, the source line and its caret) and the first
 * frame below it, then the last lines.
 */

/**
 * A line that starts an error report, at the start of the line (an indented one is part of an
 * earlier report, e.g. Node's `[cause]: TypeError: ...`): `Error: ...`, `TypeError [ERR_X]: ...`,
 * `Uncaught ...Error`, Python's `ValueError: ...`, Java's `Exception in thread "main" ...`,
 * Go's `panic: ...`, Rust's `thread 'main' panicked at ...`.
 */
const ERROR_LINE = /^(?:Uncaught\s+)?(?:[A-Za-z_$][\w$.]*)?(?:Error|Exception)(?:\s*\[[\w.-]+\])?(?::|$)|^Exception in thread |^panic: |^thread '.*' panicked at /;

/** Node's location of an uncaught throw, printed above the error: `file:line`, the source line, a caret line. */
const CARET_LINE = /^\s*\^+\s*$/;
const LOCATION_LINE = /^\S.*:\d+$/;

export interface Excerpt {
  /** The error's message line with its context; empty when none was found above the tail. */
  error: string[];
  /** Lines left out between the error and the tail (0 when they are adjacent). */
  skipped: number;
  /** The last lines. */
  tail: string[];
}

/** Index of the last line that starts an error report, or -1. */
export function lastErrorLine(lines: readonly string[]): number {
  for (let i = lines.length - 1; i >= 0; i--) if (ERROR_LINE.test(lines[i]!)) return i;
  return -1;
}

/** The error (when it is not among the last `n` lines already) and the last `n` lines. */
export function failureExcerpt(lines: readonly string[], n: number): Excerpt {
  const tailStart = Math.max(0, lines.length - n);
  const at = lastErrorLine(lines);
  if (at < 0 || at >= tailStart) return { error: [], skipped: 0, tail: lines.slice(tailStart) };
  let from = at;
  // Node: "file:line", "source", "   ^", "", "Error: ..." (the blank line is optional).
  const caret = lines[at - 1] === '' ? at - 2 : at - 1;
  if (caret >= 2 && CARET_LINE.test(lines[caret]!) && LOCATION_LINE.test(lines[caret - 2]!)) from = caret - 2;
  // The first stack frame says where, when there is one.
  const to = /^\s+at /.test(lines[at + 1] ?? '') ? at + 2 : at + 1;
  const rest = Math.max(to, tailStart);
  return { error: lines.slice(from, to).filter((l) => l !== ''), skipped: rest - to, tail: lines.slice(rest) };
}

/** The excerpt as indented lines for an error message; empty for an empty log. */
export function formatExcerpt(e: Excerpt, indent = '  '): string {
  const out = [...e.error];
  if (e.error.length > 0 && e.skipped > 0) out.push(`... (${e.skipped} more line${e.skipped === 1 ? '' : 's'})`);
  out.push(...e.tail);
  return out.map((l) => `${indent}${l}`).join('\n');
}

/** How many of a log's last lines are searched for the error (tailFile reads at most its last 64 KiB). */
export const LOG_LINES_SCANNED = 2000;

/** Lines shown from the end of the log. */
export const LOG_TAIL_LINES = 10;

/** `; last lines of <file>:` and the excerpt, or ` (log <file> is empty)`: the end of a start-failure message. */
export function describeLog(file: string, lines: readonly string[], n = LOG_TAIL_LINES): string {
  if (lines.length === 0) return ` (log ${file} is empty)`;
  const e = failureExcerpt(lines, n);
  return `; ${e.error.length > 0 ? 'the error and the last lines' : 'last lines'} of ${file}:\n${formatExcerpt(e)}`;
}
