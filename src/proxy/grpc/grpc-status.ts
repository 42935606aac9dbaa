import type { IncomingHttpHeaders } from 'node:http2';

/** The gRPC status codes the proxy makes or reads (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  Ok: 0,
  Cancelled: 1,
  Unknown: 2,
  DeadlineExceeded: 4,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/**
 * The grpc-status for an HTTP status, as gRPC's http-grpc-status-mapping.md and Envoy map
 * them, so a proxy-made answer means the same to a gRPC client as to an HTTP one.
 */
export function grpcStatusFromHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.Internal;
    case 401:
      return GrpcStatus.Unauthenticated;
    case 403:
      return GrpcStatus.PermissionDenied;
    case 404:
      return GrpcStatus.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.Unavailable;
    default:
      return GrpcStatus.Unknown;
  }
}

/** `grpc-status` of a trailers block or trailers-only head; undefined when absent or not a number. */
export function readGrpcStatus(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['grpc-status'];
  if (typeof v !== 'string' || v.length === 0 || v.length > 2) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}
