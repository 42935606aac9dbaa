/**
 * Access-log defaults, shared by the mesh-file schema (src/config) and the proxy (a bootstrap
 * that names only a path). Documented in docs/mesh-file.md and docs/operations.md.
 */
export const ACCESS_LOG_DEFAULTS = {
  /** Rotate before the live file would pass this size. */
  maxBytes: 32 * 1024 * 1024,
  /** Rotated files kept (`<file>.1` newest .. `<file>.3`): at most ~128 MiB per proxy with the default size. */
  keep: 3,
  /** Write as soon as this much is buffered... */
  flushBytes: 64 * 1024,
  /** ...and at the latest this long after the first buffered line. */
  flushIntervalMs: 200,
  /** Lines that would take the buffer past this are dropped and counted, never queued. */
  maxBufferBytes: 4 * 1024 * 1024,
  /** At most one warning about dropped lines per this period. */
  warnIntervalMs: 10_000,
} as const;
