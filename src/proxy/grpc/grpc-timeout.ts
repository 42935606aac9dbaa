/**
 * The `grpc-timeout` request header (gRPC over HTTP/2 spec): TimeoutValue, 1 to 8 ASCII
 * digits, then a TimeoutUnit: H hours, M minutes, S seconds, m milliseconds, u microseconds,
 * n nanoseconds. Hand-written because it runs on every gRPC stream that carries a deadline.
 */

const MAX_VALUE = 99_999_999;

function unitMs(code: number): number {
  switch (code) {
    case 72 /* H */:
      return 3_600_000;
    case 77 /* M */:
      return 60_000;
    case 83 /* S */:
      return 1000;
    case 109 /* m */:
      return 1;
    case 117 /* u */:
      return 1e-3;
    case 110 /* n */:
      return 1e-6;
    default:
      return 0;
  }
}

/** The timeout in milliseconds (fractional for u and n), or undefined when malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const len = value.length;
  if (len < 2 || len > 9) return undefined;
  const factor = unitMs(value.charCodeAt(len - 1));
  if (factor === 0) return undefined;
  let n = 0;
  for (let i = 0; i < len - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * factor;
}

/**
 * Formats a remaining time for the next hop. Rounds down (the next hop must never get more
 * time than is left) in milliseconds, in u/n when under a millisecond, and in S/M/H only when
 * the value would not fit in 8 digits. A remainder of zero or less still sends `1n`: the
 * header must be positive, and the proxy's own deadline fires at once anyway.
 */
export function formatGrpcTimeout(ms: number): string {
  if (!(ms > 0)) return '1n';
  if (ms >= 1) {
    const whole = Math.floor(ms);
    if (whole <= MAX_VALUE) return `${whole}m`;
    const s = Math.floor(ms / 1000);
    if (s <= MAX_VALUE) return `${s}S`;
    const min = Math.floor(ms / 60_000);
    if (min <= MAX_VALUE) return `${min}M`;
    return `${Math.min(MAX_VALUE, Math.floor(ms / 3_600_000))}H`;
  }
  const us = Math.floor(ms * 1000);
  if (us >= 1) return `${us}u`;
  return `${Math.max(1, Math.floor(ms * 1e6))}n`;
}
