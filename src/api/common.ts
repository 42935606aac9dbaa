/** Application protocol of a port. `grpc` is HTTP/2 with gRPC semantics (trailers, grpc-status). */
export type Protocol = 'http' | 'http2' | 'grpc' | 'tcp';

export const PROTOCOLS: readonly Protocol[] = ['http', 'http2', 'grpc', 'tcp'];

/**
 * An inbound port's mTLS mode: STRICT accepts mTLS only; PERMISSIVE also accepts plaintext
 * (told apart by the first byte), whose callers carry no identity.
 */
export type MtlsMode = 'STRICT' | 'PERMISSIVE';

export interface HostPort {
  host: string;
  port: number;
}

/** True for protocols carried over HTTP/2 between proxies and from the app. */
export function isHttp2(protocol: Protocol): boolean {
  return protocol === 'http2' || protocol === 'grpc';
}

/** Cluster name for one port of one service: `<namespace>/<service>:<port>`. */
export function clusterName(namespace: string, service: string, port: string): string {
  return `${namespace}/${service}:${port}`;
}

/** Node id of one replica's proxy: `<namespace>/<workload>/<replica>`. */
export function nodeId(namespace: string, workload: string, replica: number): string {
  return `${namespace}/${workload}/${replica}`;
}

/** ALPN protocol ids used between proxies on an inbound mTLS port. */
export const ALPN_HTTP1 = 'http/1.1';
export const ALPN_H2 = 'h2';
export const ALPN_TCP = 'trellis-tcp';
