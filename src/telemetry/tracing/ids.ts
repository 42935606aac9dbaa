import { randomFillSync } from 'node:crypto';

/**
 * Trace and span ids as lower-hex strings (W3C: 16-byte trace id, 8-byte span id).
 *
 * Random bytes come from one pooled buffer refilled with `randomFillSync` when used up, so an
 * id costs a slice of the pool and one string, not a Buffer and a syscall each.
 */

export interface IdGenerator {
  /** 32 lower-hex characters, never all zero. */
  traceId(): string;
  /** 16 lower-hex characters, never all zero. */
  spanId(): string;
}

const POOL_BYTES = 4096;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/**
 * An id generator over `fill` (which must fill the whole buffer it is given with random bytes).
 * Tests inject a deterministic `fill`; the default is the CSPRNG.
 */
export function createIdGenerator(fill: (buf: Buffer) => void = randomFillSync): IdGenerator {
  const pool = Buffer.alloc(POOL_BYTES);
  // Starts "used up" so no randomness is drawn until the first id (nothing runs at import).
  let offset = POOL_BYTES;

  function hex(bytes: number): string {
    if (offset + bytes > POOL_BYTES) {
      fill(pool);
      offset = 0;
    }
    const start = offset;
    offset += bytes;
    return pool.toString('hex', start, start + bytes);
  }

  return {
    traceId(): string {
      let id = hex(16);
      // All-zero ids are invalid (W3C); with real randomness this loop never runs twice.
      while (id === ZERO_TRACE_ID) id = hex(16);
      return id;
    },
    spanId(): string {
      let id = hex(8);
      while (id === ZERO_SPAN_ID) id = hex(8);
      return id;
    },
  };
}

let shared: IdGenerator | undefined;

/** The process-wide CSPRNG-backed generator (created on first use). */
export function randomIds(): IdGenerator {
  shared ??= createIdGenerator();
  return shared;
}
