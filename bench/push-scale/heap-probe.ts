/**
 * Preloaded (`node --import`) into the one real proxy of `bench:push-scale`: samples V8's heap
 * every 20 ms and answers the parent's `{type:'heap'}` over IPC with the peak seen since the
 * last answer, the heap after a full GC (needs --expose-gc) and the RSS. Bench-only.
 */
let peak = 0;
const sample = (): void => {
  const used = process.memoryUsage().heapUsed;
  if (used > peak) peak = used;
};
setInterval(sample, 20).unref();
process.on('message', (m: { type?: string }) => {
  if (m.type !== 'heap') return;
  sample();
  const g = (globalThis as { gc?: () => void }).gc;
  g?.();
  const after = process.memoryUsage();
  process.send?.({ type: 'heap', peakHeapUsed: peak, heapUsedAfterGc: after.heapUsed, heapTotal: after.heapTotal, rss: after.rss });
  peak = after.heapUsed;
});
// Let the proxy's own stdin-close handling and exit work: the IPC channel must not keep it alive.
process.channel?.unref();
