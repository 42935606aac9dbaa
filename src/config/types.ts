import type { DefaultAction, LoadBalancerKind } from '../api/snapshot.js';
import type { HostPort, MtlsMode, Protocol } from '../api/common.js';

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
  /** `spec.authorization`: the mesh-wide default of services no policy gives a defaultAction. */
  authorization: { defaultAction: DefaultAction };
  /** `spec.mtls.lockAppPorts`: close the plaintext bypass with nftables where the host allows it. */
  lockAppPorts: boolean;
  /** `spec.outbound`: the outbound mode and the egress listeners of every workload's proxy. */
  outbound: OutboundSettings;
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
  /** Resolved: the port's own `mtls`, else its workload's, else the mesh's `spec.mtls.mode`. */
  mtls: MtlsMode;
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
  /** The user and group the app runs as; null = the default (src/agent/run-as/decide.ts). */
  user: string | null;
  group: string | null;
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
  /** The plain-text listener (port 0: the agent picks a free port); null: TLS only. */
  listen: HostPort | null;
  /** The TLS listener and its certificates (absolute paths); null: plain text only. */
  tls: IngressTlsSettings | null;
  service: string;
  port: string;
  protocol: Protocol;
  cluster: string;
  /** Host names (lower case) it runs on; null: every host. */
  hosts: string[] | null;
}

export interface IngressTlsSettings {
  listen: HostPort;
  /** The first is the default (no SNI, or a name no pair serves). */
  certificates: { certFile: string; keyFile: string; hosts: string[] }[];
}

export type OutboundMode = 'allowAny' | 'registryOnly';

/** `spec.outbound` with defaults applied. */
export interface OutboundSettings {
  /** allowAny: undeclared destinations are relayed too; registryOnly: only ExternalServices. */
  mode: OutboundMode;
  ports: EgressPortConfig[];
}

/** One egress listener each workload's proxy opens on loopback. */
export interface EgressPortConfig {
  name: string;
  /** Destination port. */
  port: number;
  protocol: 'http' | 'tls';
  /** Environment variable with the listener's `127.0.0.1:<port>`. */
  env: string;
}
