import type { HostPort, MtlsMode, Protocol } from './common.js';

/**
 * What the agent hands a proxy at start, as a JSON file (`trellis proxy --bootstrap <file>`).
 * Static for the proxy's life: its identity, where the control plane is, and its listeners
 * (the agent chose the ports before the app started, because the app must know them).
 * Everything that changes at run time (endpoints, trust bundle, later routes and policies)
 * comes from the control plane in a ProxySnapshot.
 */
export interface ProxyBootstrap {
  node: {
    /** `<namespace>/<workload>/<replica>` */
    id: string;
    namespace: string;
    workload: string;
    service: string;
    serviceAccount: string;
    replica: number;
    /** SPIFFE ID this proxy will hold: spiffe://<td>/ns/<namespace>/sa/<serviceAccount> */
    identity: string;
  };
  controlPlane: {
    /** Push endpoint, HTTP/2 over TLS, e.g. https://127.0.0.1:15012 */
    pushUrl: string;
    /**
     * Every control-plane replica's push endpoint (pushUrl first). The proxy uses the first
     * that answers and moves down the list when it goes away. Absent: pushUrl alone.
     */
    pushUrls?: string[];
    /** PEM roots that the control plane's server certificate chains to (the mesh trust bundle). */
    trustBundlePem: string[];
    /** SPIFFE ID the control plane's certificate must carry. */
    identity: string;
    /** One-time token that authorises the first CSR for node.identity. */
    token: string;
  };
  /** Loopback admin listener: /ready /live /metrics /config /tap, POST /drain */
  admin: HostPort;
  /**
   * The admin listener's read-only endpoints (/ready /live /metrics /config /tap) for a control
   * plane on another host: HTTPS on the host's address, mTLS with the proxy's own certificate,
   * answering only a client that presents the control plane's certificate (controlPlane.identity).
   * Set by an agent with a non-loopback advertise address; absent on one host.
   */
  remoteAdmin?: HostPort;
  /**
   * Secret that state-changing admin calls (POST /drain) carry as `authorization: Bearer ...`:
   * at least 32 characters, new for every proxy start (the agent makes it). It is why the file
   * is written 0600. Absent: no state-changing admin call is accepted.
   */
  adminToken?: string;
  inbound: InboundListenerConfig[];
  outbound: OutboundListenerConfig[];
  /** How long a stopping proxy waits for in-flight requests before closing connections. */
  drainTimeoutMs: number;
  /**
   * Access log: 'off', 'stdout', a file path (rotated with the proxy's defaults), or a file
   * with its rotation (what the agent writes for `accessLog: file`).
   */
  accessLog: string | AccessLogFileConfig;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

/** An access-log file and its size-based rotation (docs/operations.md, "Access log"). */
export interface AccessLogFileConfig {
  path: string;
  /** Rotate before the file would pass this many bytes. */
  maxBytes: number;
  /** Rotated files kept: `<path>.1` (newest) to `<path>.<keep>`; 0 keeps none. */
  keep: number;
}

/** mTLS listener for peers; forwards to the app on loopback. */
export interface InboundListenerConfig {
  /** Port name from the mesh file (e.g. "http", "grpc"). */
  name: string;
  protocol: Protocol;
  listen: HostPort;
  app: HostPort;
  /** Absent: STRICT (mTLS only). PERMISSIVE also serves plaintext callers, without identity. */
  mtls?: MtlsMode;
}

/** Local plain-text listener through which the app reaches one upstream service port. */
export interface OutboundListenerConfig {
  name: string;
  protocol: Protocol;
  listen: HostPort;
  /** Cluster name `<namespace>/<service>:<port>` resolved from the snapshot. */
  cluster: string;
  /**
   * An ingress: clients outside the mesh connect here, so the headers the mesh owns are
   * stripped or overwritten (docs/operations.md) rather than trusted.
   */
  ingress?: boolean;
  /**
   * An ingress only: terminate TLS with these certificates (docs/security.md, "Ingress TLS").
   * Absent: the listener speaks plain text.
   */
  tls?: IngressTlsConfig;
  /**
   * An egress listener (mesh file `spec.outbound.ports`): the app reaches destinations outside
   * the mesh on `port` through it, by Host (http) or by the ClientHello's SNI (tls, relayed
   * without decrypting). `cluster` is then only the metrics label of undeclared destinations.
   */
  egress?: EgressListenerConfig;
}

/** The TLS an ingress listener terminates: operator-provided PEM files, reloaded when they change. */
export interface IngressTlsConfig {
  /** At least one. The first is the default: for a client that sends no SNI, or a name no pair serves. */
  certificates: IngressCertificateConfig[];
}

export interface IngressCertificateConfig {
  /** Absolute paths, read by the proxy (at start and whenever they change). */
  certFile: string;
  keyFile: string;
  /** Host names this pair serves (exact, or `*.example.com` for one label); empty: the certificate's DNS names. */
  hosts: string[];
}

export interface EgressListenerConfig {
  /** Destination port: ExternalServices of this port and protocol are served here. */
  port: number;
  protocol: 'http' | 'tls';
  /** allowAny: undeclared destinations are relayed too; registryOnly: refused (403 egress-denied, or a reset). */
  mode: 'allowAny' | 'registryOnly';
}
