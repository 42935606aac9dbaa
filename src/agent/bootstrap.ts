import { randomBytes } from 'node:crypto';
import type { ProxyBootstrap } from '../api/bootstrap.js';
import type { HostPort } from '../api/common.js';
import { nodeId } from '../api/common.js';
import type { IngressConfig, MeshConfig, WorkloadConfig } from '../config/types.js';
import type { TokenResponse } from './client.js';

export const LOOPBACK = '127.0.0.1';

export type ReplicaSpec = { kind: 'workload'; workload: WorkloadConfig } | { kind: 'ingress'; ingress: IngressConfig };

export interface ReplicaPorts {
  admin: number;
  /**
   * Port of the proxy's remote admin listener (mTLS, control plane only) on inboundHost; set
   * when inboundHost is not loopback, as the control plane may run on another host.
   */
  remoteAdmin?: number;
  /** App port per declared port name. */
  app: Map<string, number>;
  /** Proxy inbound (mTLS) port per declared port name. */
  inbound: Map<string, number>;
  /**
   * Address the inbound listeners bind and endpoints carry: the agent's advertise address
   * (peers on other hosts dial it), 127.0.0.1 by default. Apps, outbound and admin stay on loopback.
   */
  inboundHost: string;
  /** Outbound listener per upstream (for an ingress: its plain then its TLS listener, see ingressListeners). */
  outbound: { host: string; port: number }[];
  /** Egress listener per mesh-file `spec.outbound.ports` entry (workloads only). */
  egress?: { host: string; port: number }[];
}

/**
 * An ingress's listeners, in the order their addresses sit in `ReplicaPorts.outbound`: the
 * plain one (named after the ingress) if any, then the TLS one (`<name>-tls`) if any. A name
 * cannot clash: ingress names are DNS labels, and `-tls` is only ever added here.
 */
export function ingressListeners(g: IngressConfig): { name: string; listen: HostPort; tls: boolean }[] {
  const out: { name: string; listen: HostPort; tls: boolean }[] = [];
  if (g.listen !== null) out.push({ name: g.name, listen: g.listen, tls: false });
  if (g.tls !== null) out.push({ name: `${g.name}-tls`, listen: g.tls.listen, tls: true });
  return out;
}

/** `spiffe://<td>/ns/<ns>/sa/<sa>` */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** Name, node id and identity of a replica's proxy. An ingress is its own service account. */
export function replicaIdentity(mesh: Pick<MeshConfig, 'namespace' | 'trustDomain'>, spec: ReplicaSpec, replica: number): { name: string; nodeId: string; identity: string } {
  const name = spec.kind === 'workload' ? spec.workload.name : spec.ingress.name;
  const sa = spec.kind === 'workload' ? spec.workload.serviceAccount : spec.ingress.name;
  return { name, nodeId: nodeId(mesh.namespace, name, replica), identity: spiffeId(mesh.trustDomain, mesh.namespace, sa) };
}

/**
 * A new admin token for one proxy start: 32 random bytes, base64url (43 characters). The
 * proxy accepts POST /drain only with it; only the agent and the 0600 bootstrap file hold it.
 */
export function newAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The ProxyBootstrap (src/api/bootstrap.ts) of one replica: inbound listener per declared port
 * (forwarding to the app's port), outbound listener per upstream, or for an ingress its
 * plain and/or TLS listener (ingressListeners) and no inbound.
 */
export function buildBootstrap(opts: {
  mesh: MeshConfig;
  spec: ReplicaSpec;
  replica: number;
  ports: ReplicaPorts;
  token: TokenResponse;
  adminToken: string;
  accessLogFile: string;
  logLevel: ProxyBootstrap['logLevel'];
}): ProxyBootstrap {
  const { mesh, spec, ports, token } = opts;
  const id = replicaIdentity(mesh, spec, opts.replica);
  const at = (i: number): { host: string; port: number } => ports.outbound[i] as { host: string; port: number };
  const w = spec.kind === 'workload' ? spec.workload : null;
  const outbound: ProxyBootstrap['outbound'] =
    spec.kind === 'workload'
      ? spec.workload.upstreams.map((u, i) => ({ name: `${u.service}-${u.port}`, protocol: u.protocol, listen: at(i), cluster: u.cluster }))
      : ingressListeners(spec.ingress).map((l, i) => ({
          name: l.name,
          protocol: spec.ingress.protocol,
          listen: at(i),
          cluster: spec.ingress.cluster,
          ingress: true,
          ...(l.tls && spec.ingress.tls !== null ? { tls: { certificates: spec.ingress.tls.certificates.map((c) => ({ ...c, hosts: [...c.hosts] })) } } : {}),
        }));
  if (spec.kind === 'workload' && ports.egress !== undefined) {
    mesh.outbound.ports.forEach((e, i) => {
      const listen = ports.egress?.[i];
      if (listen === undefined) return;
      outbound.push({
        name: `egress-${e.name}`,
        // tls listeners relay bytes (after reading the SNI); http ones run the HTTP/1 pipeline.
        protocol: e.protocol === 'http' ? 'http' : 'tcp',
        listen,
        // The metrics destination of requests to undeclared hosts (allowAny passthrough or refused).
        cluster: `egress/unregistered:${e.port}`,
        egress: { port: e.port, protocol: e.protocol, mode: mesh.outbound.mode },
      });
    });
  }
  return {
    node: {
      id: id.nodeId,
      namespace: mesh.namespace,
      workload: id.name,
      service: w?.service ?? id.name,
      serviceAccount: w?.serviceAccount ?? id.name,
      replica: opts.replica,
      identity: id.identity,
    },
    controlPlane: {
      pushUrl: token.pushUrl,
      ...(token.pushUrls !== undefined && token.pushUrls.length > 1 ? { pushUrls: token.pushUrls } : {}),
      trustBundlePem: token.trustBundlePem,
      identity: token.controlPlaneIdentity,
      token: token.token,
    },
    admin: { host: LOOPBACK, port: ports.admin },
    ...(ports.remoteAdmin !== undefined ? { remoteAdmin: { host: ports.inboundHost, port: ports.remoteAdmin } } : {}),
    adminToken: opts.adminToken,
    inbound: (w?.ports ?? []).map((p) => ({
      name: p.name,
      protocol: p.protocol,
      listen: { host: ports.inboundHost, port: ports.inbound.get(p.name) as number },
      app: { host: LOOPBACK, port: ports.app.get(p.name) as number },
      // STRICT is the bootstrap's default: only PERMISSIVE is written out.
      ...(p.mtls === 'PERMISSIVE' ? { mtls: p.mtls } : {}),
    })),
    outbound,
    drainTimeoutMs: mesh.drainTimeoutMs,
    accessLog:
      mesh.accessLog.destination === 'file'
        ? { path: opts.accessLogFile, maxBytes: mesh.accessLog.maxBytes, keep: mesh.accessLog.keep }
        : mesh.accessLog.destination,
    logLevel: opts.logLevel,
  };
}
