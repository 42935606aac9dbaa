/**
 * Signal handling for the long-running commands: the first SIGINT/SIGTERM starts an orderly
 * stop, a second one forces it. Also: stop when stdin closes (the parent went away).
 */
export function onSignals(graceful: (signal: NodeJS.Signals) => void, force: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count += 1;
    if (count === 1) graceful(signal);
    else force(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Calls `fn` once stdin reaches end of file (the agent or `up` that started us is gone). */
export function onStdinClose(fn: () => void): void {
  let called = false;
  const once = (): void => {
    if (!called) {
      called = true;
      fn();
    }
  };
  process.stdin.on('end', once);
  process.stdin.on('close', once);
  process.stdin.on('error', once);
  process.stdin.resume();
}
