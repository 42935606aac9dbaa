import type { LoadBalancerKind } from '../api/snapshot.js';
import type { HostPort, Protocol } from '../api/common.js';

/** A validated mesh file with every default applied (docs/mesh-file.md). */
export interface MeshConfig {
  /** Absolute path of the mesh file. */
  file: string;
  /** Folder of the mesh file: workloads run here. */
  dir: string;
  name: string;
  trustDomain: string;
  namespace: string;
  certificateTtlMs: number;
  drainTimeoutMs: number;
  controlPlane: { api: HostPort; push: HostPort };
  accessLog: AccessLogSettings;
  /** `spec.tracing`; null when `enabled: false` (snapshots then carry no tracing). */
  tracing: TracingSettings | null;
  ingress: IngressConfig[];
  workloads: WorkloadConfig[];
  /** Services declared by label selector (`spec.services`). */
  services: SelectorServiceConfig[];
}

/** `spec.accessLog` with defaults applied (the short form `file` is `{ destination: 'file' }`). */
export interface AccessLogSettings {
  destination: 'off' | 'stdout' | 'file';
  /** Rotate before a proxy's file would pass this many bytes. */
  maxBytes: number;
  /** Rotated files kept beside the live one (`.1` newest). */
  keep: number;
}

/** Where proxies send spans and how many new traces they record. */
export interface TracingSettings {
  /** 0..1: probability that a new trace (one whose caller made no decision) is recorded. */
  samplingRatio: number;
  /** OTLP/HTTP traces URL; null = the control plane's own `/v1/traces`. */
  collector: string | null;
}

export interface SelectorServiceConfig {
  name: string;
  selector: Record<string, string>;
  /** Names of the workloads the selector picks (at least one; they share their ports). */
  workloads: string[];
}

export interface PortConfig {
  name: string;
  protocol: Protocol;
  /** Fixed loopback port of the app; null: the agent picks one per replica. */
  appPort: number | null;
}

export interface WorkloadConfig {
  name: string;
  service: string;
  serviceAccount: string;
  /** null: something else runs the app (it listens on each port's appPort); the agent runs its proxy only. */
  command: string[] | null;
  /** Replicas on each host it runs on. */
  replicas: number;
  /** Host names (lower case) it runs on; null: every host. See placement.ts. */
  hosts: string[] | null;
  env: Record<string, string>;
  ports: PortConfig[];
  readiness: ReadinessConfig;
  upstreams: UpstreamConfig[];
  /** How callers spread requests over this service's endpoints. */
  loadBalancer: LoadBalancerKind;
  /** Labels for service selectors, `app: <service>` included. */
  labels: Record<string, string>;
}

export interface ReadinessConfig {
  /** null: TCP connect to every port. */
  httpGet: { path: string; port: string } | null;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  startTimeoutMs: number;
}

export interface UpstreamConfig {
  service: string;
  port: string;
  protocol: Protocol;
  /** `<namespace>/<service>:<port>` */
  cluster: string;
  /** Environment variable that carries the local address. */
  env: string;
  /** Fixed local address; null: the agent picks a free port. */
  listen: HostPort | null;
}

export interface IngressConfig {
  name: string;
  /** Port 0: the agent picks a free port. */
  listen: HostPort;
  service: string;
  port: string;
  protocol: Protocol;
  cluster: string;
  /** Host names (lower case) it runs on; null: every host. */
  hosts: string[] | null;
}
