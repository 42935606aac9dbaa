/**
 * How a tapped request's outcome reads and counts, shared by the tap filter (proxies and the
 * control plane), `trellis tap` / `trellis top` and the dashboard. Pure: no Node APIs, so the
 * browser bundle can use it too.
 */

/** gRPC status names by code (grpc/doc/statuscodes.md). */
export const GRPC_STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** `UNAVAILABLE`; a code outside 0..16 (a server may send any number) reads `CODE_<n>`. */
export function grpcStatusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? `CODE_${code}`;
}

/**
 * A gRPC status as a user writes it: a number 0..16 or a name in any case, with `_` or `-`
 * (`14`, `UNAVAILABLE`, `unavailable`, `deadline-exceeded`). Undefined if it is neither.
 */
export function parseGrpcStatus(text: string): number | undefined {
  if (/^[0-9]{1,2}$/.test(text)) {
    const n = Number(text);
    return n <= 16 ? n : undefined;
  }
  const i = GRPC_STATUS_NAMES.indexOf(text.toUpperCase().replace(/-/g, '_'));
  return i >= 0 ? i : undefined;
}

/**
 * A failed request, as `trellis stat` and top count it: no response (status 0), a 5xx, or a
 * gRPC call whose grpc-status is not OK (gRPC failures travel in a 200 response).
 */
export function isFailure(status: number, grpcStatus: number | undefined): boolean {
  return status === 0 || status >= 500 || (grpcStatus !== undefined && grpcStatus !== 0);
}

/** `503`, `200 grpc=UNAVAILABLE(14)`, `200 grpc=OK(0)`: the status a tap line and a top row show. */
export function tapStatusText(status: number, grpcStatus: number | undefined): string {
  return grpcStatus === undefined ? String(status) : `${status} grpc=${grpcStatusName(grpcStatus)}(${grpcStatus})`;
}
