import type { Duplex } from 'node:stream';

export interface RelayResult {
  /** Bytes read from `downstream` and written upstream. */
  bytesIn: number;
  /** Bytes read from `upstream` and written downstream. */
  bytesOut: number;
  /** The first error either side raised, if any. */
  error: Error | undefined;
}

/**
 * Opaque byte relay between two connected sockets: pipe() in both directions gives
 * backpressure (a slow reader pauses the other side's reads); an end from one side is passed
 * on as a half-close (the other direction keeps flowing); an error on either side destroys
 * both. `done` runs once, when both sockets have closed.
 */
export function relay(downstream: Duplex, upstream: Duplex, done: (result: RelayResult) => void): void {
  const result: RelayResult = { bytesIn: 0, bytesOut: 0, error: undefined };
  let closed = 0;
  const onClose = (): void => {
    closed++;
    if (closed === 2) done(result);
  };
  const onError = (err: Error): void => {
    result.error ??= err;
    downstream.destroy();
    upstream.destroy();
  };
  downstream.on('data', (chunk: Buffer) => {
    result.bytesIn += chunk.length;
  });
  upstream.on('data', (chunk: Buffer) => {
    result.bytesOut += chunk.length;
  });
  downstream.on('error', onError);
  upstream.on('error', onError);
  downstream.once('close', () => {
    // A close without end (reset) on one side: nothing more can be relayed.
    upstream.destroy();
    onClose();
  });
  upstream.once('close', () => {
    downstream.destroy();
    onClose();
  });
  downstream.pipe(upstream);
  upstream.pipe(downstream);
}
