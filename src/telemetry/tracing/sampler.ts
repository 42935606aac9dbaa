/**
 * Sampling: parent-based with a trace-id ratio for new traces (OpenTelemetry's
 * `ParentBased(TraceIdRatioBased(p))`).
 *
 * A caller's decision is honoured both ways, so every hop of a trace agrees. A new trace (or a
 * B3 caller that deferred the decision) is sampled when the trace id's lower 64 bits, read as
 * a fraction of 2^64, fall below p, as the Go and Java SDKs compute it: the decision depends
 * on the trace id only, so two proxies that see the same new trace id decide alike.
 */

export interface Sampler {
  /** `parentSampled`: the caller's flag, undefined when there was no caller decision. */
  shouldSample(traceId: string, parentSampled: boolean | undefined): boolean;
}

const TWO_POW_32 = 2 ** 32;

/** 32 bits of a hex id from `from` (8 characters) as an exact integer. */
function word(traceId: string, from: number): number {
  let w = 0;
  for (let i = from; i < from + 8; i++) w = w * 16 + hexDigit(traceId.charCodeAt(i));
  return w;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return 0;
}

/** The new-trace half alone: samples about `ratio` of trace ids, always the same ones. */
export function traceIdRatio(ratio: number): (traceId: string) => boolean {
  if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`sampling ratio must be within [0, 1], got ${ratio}`);
  if (ratio === 0) return () => false;
  if (ratio === 1) return () => true;
  // lower64 < ratio * 2^64, compared as two exact 32-bit halves (a double holds only 53 bits).
  const bound = ratio * TWO_POW_32 * TWO_POW_32;
  const boundHi = Math.floor(bound / TWO_POW_32);
  const boundLo = bound - boundHi * TWO_POW_32;
  return (traceId) => {
    const hi = word(traceId, 16);
    return hi < boundHi || (hi === boundHi && word(traceId, 24) < boundLo);
  };
}

/** Parent-based sampler over a ratio for new traces. Throws RangeError for a ratio outside [0, 1]. */
export function parentBasedSampler(ratio: number): Sampler {
  const root = traceIdRatio(ratio);
  return {
    shouldSample(traceId: string, parentSampled: boolean | undefined): boolean {
      return parentSampled ?? root(traceId);
    },
  };
}
