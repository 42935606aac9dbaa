/** Mesh files the integration tests share: a client workload `a` and a server workload `b`. */
import type { Protocol } from '../../src/api/common.js';

export const TRUST_DOMAIN = 'it.trellis.local';

export function spiffeId(serviceAccount: string, namespace = 'default'): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${serviceAccount}`;
}

export interface PairMeshOptions {
  name: string;
  /** Protocol of b's port (the port is named after it: http, grpc, tcp, http2). */
  protocol: Protocol;
  /** b's app, e.g. ['node', 'http-echo.mjs']. */
  serverCommand: string[];
  /** Fixed loopback port of a's outbound listener for b: the tests' way into the mesh as "app a". */
  outPort: number;
  serverReplicas?: number;
  /** b's `loadBalancer` (default: the mesh's default, peak-ewma). */
  serverLoadBalancer?: 'peak-ewma' | 'round-robin';
  /** a's app (default the http echo); it gets B_ADDR. */
  clientCommand?: string[];
  clientEnv?: Record<string, string>;
  certificateTTL?: string;
  /** Adds ingress `edge` (127.0.0.1:0) to a's http port. */
  ingressToA?: boolean;
  /** Mesh `spec.tracing.sampling` (absent: the default, 1%). */
  tracingSampling?: number;
}

/**
 * a (http port, upstream b at 127.0.0.1:<outPort>) and b (one port of `protocol`).
 * Ports of the control plane and the ingress are 0 (chosen at start, read from the ready line).
 */
export function pairMesh(o: PairMeshOptions): string {
  const q = (argv: string[]): string => `[${argv.map((s) => JSON.stringify(s)).join(', ')}]`;
  const serverReadiness =
    o.protocol === 'http'
      ? `
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 1`
      : '';
  const clientEnv = o.clientEnv !== undefined ? `\n      env: ${JSON.stringify(o.clientEnv)}` : '';
  const ingress =
    o.ingressToA === true
      ? `
  ingress:
    - name: edge
      listen: 127.0.0.1:0
      service: a
      port: http`
      : '';
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: ${o.name}
spec:
  trustDomain: ${TRUST_DOMAIN}
  namespace: default
  certificateTTL: ${o.certificateTTL ?? '1h'}
  controlPlane:
    api: 127.0.0.1:0
    push: 127.0.0.1:0
  accessLog: file${o.tracingSampling !== undefined ? `\n  tracing: { sampling: ${o.tracingSampling} }` : ''}${ingress}
  workloads:
    - name: a
      command: ${q(o.clientCommand ?? ['node', 'http-echo.mjs'])}${clientEnv}
      ports:
        - name: http
          protocol: http
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 1
      upstreams:
        - service: b
          port: ${o.protocol}
          listen: 127.0.0.1:${o.outPort}
    - name: b
      command: ${q(o.serverCommand)}
      replicas: ${o.serverReplicas ?? 1}${o.serverLoadBalancer !== undefined ? `\n      loadBalancer: ${o.serverLoadBalancer}` : ''}
      ports:
        - name: ${o.protocol}
          protocol: ${o.protocol}${serverReadiness}
`;
}
