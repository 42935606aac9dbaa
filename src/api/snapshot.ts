import type { Protocol } from './common.js';

/**
 * Versioned dynamic configuration the control plane compiles for one proxy and pushes
 * over the push stream. A proxy applies a snapshot whole or not at all (NACK), and keeps
 * serving on the last one it accepted while the control plane is away.
 */
export interface ProxySnapshot {
  /** Strictly increasing for one control-plane store (survives restarts). */
  version: number;
  trustDomain: string;
  /** PEM CA certificates peers' chains must end in. */
  trustBundlePem: string[];
  clusters: ClusterConfig[];
}

export type LoadBalancerKind = 'peak-ewma' | 'round-robin';

export interface ClusterConfig {
  /** `<namespace>/<service>:<port>` */
  name: string;
  namespace: string;
  service: string;
  port: string;
  protocol: Protocol;
  loadBalancer: LoadBalancerKind;
  connectTimeoutMs: number;
  endpoints: EndpointConfig[];
}

export interface EndpointConfig {
  /** Address of the endpoint's proxy inbound mTLS listener. */
  host: string;
  port: number;
  /** SPIFFE ID the endpoint's certificate must carry. */
  identity: string;
  workload: string;
  replica: number;
}
