/**
 * The simulated mesh of `bench:push-scale`: services, the agents (hosts) that report them, who
 * calls whom, and the changes the benchmark makes. Deterministic (seeded), so runs compare.
 *
 * Trellis runs one proxy per replica and every endpoint is a replica's port, so a mesh of P
 * proxies and E endpoints has E/P ports per workload (10 by default). Every workload calls
 * `upstreams` services (the first, svc-000, is called by everyone: the shared dependency
 * whose changes reach every proxy) on `upstreamPorts` of their ports each.
 */
import type { AgentReport, WorkloadReport } from '../../src/api/registry.js';

export interface TopologyOptions {
  proxies: number;
  endpoints: number;
  replicas: number;
  upstreams: number;
  upstreamPorts: number;
  workloadsPerHost: number;
  seed: number;
}

export interface Service {
  name: string;
  identity: string;
  nodeIds: string[];
  /** Services this one calls. */
  calls: string[];
  host: string;
}

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Topology {
  readonly services: Service[] = [];
  readonly ports: string[];
  readonly hosts: string[] = [];
  /** Service -> the nodes whose snapshot holds its clusters (its callers' replicas). */
  readonly callers = new Map<string, string[]>();
  /** Replica state per node (flipped by endpoint changes). */
  private readonly ready = new Map<string, boolean>();
  private readonly portBase = 20000;

  constructor(
    readonly o: TopologyOptions,
    readonly trustDomain: string,
  ) {
    const rand = prng(o.seed);
    const count = Math.max(1, Math.round(o.proxies / o.replicas));
    const perWorkload = Math.max(1, Math.round(o.endpoints / (count * o.replicas)));
    this.ports = Array.from({ length: perWorkload }, (_, i) => `p${i}`);
    for (let i = 0; i < count; i++) {
      const name = `svc-${String(i).padStart(3, '0')}`;
      const host = `host-${String(Math.floor(i / o.workloadsPerHost)).padStart(3, '0')}`;
      if (this.hosts.at(-1) !== host) this.hosts.push(host);
      const nodeIds = Array.from({ length: o.replicas }, (_, r) => `default/${name}/${r}`);
      for (const n of nodeIds) this.ready.set(n, true);
      this.services.push({ name, identity: `spiffe://${trustDomain}/ns/default/sa/${name}`, nodeIds, calls: [], host });
    }
    for (const s of this.services) {
      const calls = new Set<string>();
      if (s.name !== 'svc-000') calls.add('svc-000');
      for (let tries = 0; calls.size < Math.min(o.upstreams, count - 1) && tries < 1000; tries++) {
        const t = this.services[Math.floor(rand() * count)] as Service;
        if (t.name !== s.name) calls.add(t.name);
      }
      s.calls = [...calls];
      for (const c of s.calls) {
        let list = this.callers.get(c);
        if (list === undefined) this.callers.set(c, (list = []));
        list.push(...s.nodeIds);
      }
    }
  }

  get nodeCount(): number {
    return this.services.length * this.o.replicas;
  }
  get endpointCount(): number {
    return this.nodeCount * this.ports.length;
  }

  service(name: string): Service {
    const s = this.services.find((x) => x.name === name);
    if (s === undefined) throw new Error(`no service ${name}`);
    return s;
  }

  upstreamClusters(s: Service): string[] {
    return s.calls.flatMap((c) => this.ports.slice(0, this.o.upstreamPorts).map((p) => `default/${c}:${p}`));
  }

  /** Flips one replica of `service` between ready and unhealthy; returns its host (whose report changed). */
  flip(service: string, replica: number): string {
    const s = this.service(service);
    const node = s.nodeIds[replica % s.nodeIds.length] as string;
    this.ready.set(node, !(this.ready.get(node) ?? true));
    return s.host;
  }

  private workload(s: Service, index: number): WorkloadReport {
    return {
      namespace: 'default',
      name: s.name,
      service: s.name,
      serviceAccount: s.name,
      ports: this.ports.map((p) => ({ name: p, protocol: 'http' as const })),
      upstreams: this.upstreamClusters(s),
      ingress: false,
      replicas: s.nodeIds.map((nodeId, r) => ({
        replica: r,
        nodeId,
        state: this.ready.get(nodeId) === false ? ('unhealthy' as const) : ('ready' as const),
        restarts: 0,
        appPid: null,
        proxyPid: null,
        adminUrl: '',
        endpoints: this.ports.map((p, k) => ({
          port: p,
          protocol: 'http' as const,
          host: '127.0.0.1',
          // Unique per endpoint (nothing listens: the simulated proxies never dial).
          portNumber: this.portBase + ((index * this.o.replicas + r) * this.ports.length + k) % 40000,
        })),
        lastExit: null,
      })),
    };
  }

  report(host: string, leaseMs: number): AgentReport {
    const workloads: WorkloadReport[] = [];
    this.services.forEach((s, i) => {
      if (s.host === host) workloads.push(this.workload(s, i));
    });
    return { agentId: host, hostname: host, leaseMs, workloads };
  }

  /** An HTTPRoute on `service` whose header match changes with `n`: new content for every caller, same clusters. */
  route(service: string, n: number): unknown {
    return {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: `bench-${service}`, namespace: 'default' },
      spec: {
        parentRefs: [{ name: service }],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-bench', value: `v${n}` }] }], backendRefs: [{ name: service, port: 80 }] },
          { backendRefs: [{ name: service, port: 80 }] },
        ],
      },
    };
  }
}
