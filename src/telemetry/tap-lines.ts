import type { Readable } from 'node:stream';

/** A broken peer must not make a reader buffer without bound waiting for a newline. */
export const MAX_TAP_LINE = 1 << 20;

/**
 * Splits a UTF-8 NDJSON body (a tap stream) into lines without their newline; empty lines are
 * skipped. Throws when a line grows past MAX_TAP_LINE characters.
 */
export async function* ndjsonLines(body: Readable): AsyncGenerator<string> {
  body.setEncoding('utf8');
  let buffered = '';
  for await (const chunk of body as AsyncIterable<string>) {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line !== '') yield line;
    }
    if (buffered.length > MAX_TAP_LINE) throw new Error(`a tap line longer than ${MAX_TAP_LINE} characters`);
  }
}
