import { EventEmitter } from 'node:events';
import type { Protocol } from '../../api/common.js';
import type { LoadBalancerKind } from '../../api/snapshot.js';
import type { AgentReport, EndpointView, PortSpec, ReplicaState, SelectorServiceReport, ServiceView, WorkloadReport, WorkloadView } from '../../api/registry.js';
import { spiffeId } from '../../identity/spiffe.js';
import { selects, selectorServiceKey } from './selectors.js';

interface AgentEntry {
  report: AgentReport;
  receivedAt: number;
  expiresAt: number;
}

/** One proxy the mesh expects: a replica of a workload reported by an agent. */
export interface ProxyNode {
  nodeId: string;
  identity: string;
  agentId: string;
  namespace: string;
  workload: string;
  replica: number;
  upstreams: string[];
  adminUrl: string;
  state: ReplicaState;
  ready: boolean;
}

/** A label-selected service with the workloads that currently match it (at least one). */
export interface SelectedService extends SelectorServiceReport {
  workloads: WorkloadView[];
}

export interface RegistryEvents {
  changed: [];
}

/**
 * Agent reports turned into services, workloads, endpoints and proxy nodes. Each agent's
 * report replaces its previous one whole. A lease ends `leaseMs` after the last report;
 * expire(now) drops lapsed agents. Time is always passed in, never read here.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  private readonly agents = new Map<string, AgentEntry>();

  constructor(readonly trustDomain: string) {
    super();
  }

  /** Stores a report and (re)starts its lease at `now`. Emits 'changed' when the content differs. */
  upsert(report: AgentReport, now: number): void {
    const prev = this.agents.get(report.agentId);
    this.agents.set(report.agentId, { report, receivedAt: now, expiresAt: now + report.leaseMs });
    const same = prev !== undefined && JSON.stringify(prev.report.workloads) === JSON.stringify(report.workloads) && JSON.stringify(prev.report.services) === JSON.stringify(report.services);
    if (!same) this.emit('changed');
  }

  remove(agentId: string): boolean {
    const had = this.agents.delete(agentId);
    if (had) this.emit('changed');
    return had;
  }

  /** Drops every agent whose lease ended at or before `now`; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.agents) if (e.expiresAt <= now) gone.push(id);
    for (const id of gone) this.agents.delete(id);
    if (gone.length > 0) this.emit('changed');
    return gone;
  }

  /** Earliest lease end, or null without agents (for the caller's timer). */
  nextExpiry(): number | null {
    let min: number | null = null;
    for (const e of this.agents.values()) if (min === null || e.expiresAt < min) min = e.expiresAt;
    return min;
  }

  agentIds(): string[] {
    return [...this.agents.keys()].sort();
  }

  identityOf(w: Pick<WorkloadReport, 'namespace' | 'serviceAccount'>): string {
    return spiffeId(this.trustDomain, w.namespace, w.serviceAccount);
  }

  workloads(): WorkloadView[] {
    const out: WorkloadView[] = [];
    for (const [agentId, e] of this.sortedAgents()) {
      const lock = e.report.appPortLock;
      for (const w of e.report.workloads) out.push({ ...w, agentId, identity: this.identityOf(w), ...(lock !== undefined ? { appPortLock: lock } : {}) });
    }
    return out;
  }

  /**
   * Services declared by label selector that some workload matches, sorted by namespace/name.
   * The first agent (by id) to declare a name wins; a name a workload already serves is left out
   * (the workload's service is what callers get).
   */
  selectedServices(): SelectedService[] {
    const workloads = this.workloads();
    const served = new Set(workloads.map((w) => `${w.namespace}/${w.service}`));
    const byKey = new Map<string, SelectedService>();
    for (const [, e] of this.sortedAgents()) {
      for (const s of e.report.services ?? []) {
        const key = selectorServiceKey(s);
        if (byKey.has(key) || served.has(key)) continue;
        const matching = workloads.filter((w) => selects(s.selector, w, s.namespace));
        if (matching.length > 0) byKey.set(key, { namespace: s.namespace, name: s.name, selector: { ...s.selector }, workloads: matching });
      }
    }
    return [...byKey.values()].sort((a, b) => selectorServiceKey(a).localeCompare(selectorServiceKey(b)));
  }

  /** Every endpoint: each workload's under its own service, then again under every selected service that picks it. */
  endpoints(): EndpointView[] {
    const out: EndpointView[] = [];
    const served: [string, WorkloadView][] = this.workloads().map((w) => [w.service, w]);
    for (const s of this.selectedServices()) for (const w of s.workloads) served.push([s.name, w]);
    for (const [service, w] of served) {
      for (const r of w.replicas) {
        for (const ep of r.endpoints) {
          out.push({
            namespace: w.namespace,
            service,
            port: ep.port,
            protocol: ep.protocol,
            host: ep.host,
            portNumber: ep.portNumber,
            workload: w.name,
            replica: r.replica,
            nodeId: r.nodeId,
            identity: w.identity,
            ready: r.state === 'ready',
          });
        }
      }
    }
    return out;
  }

  services(): ServiceView[] {
    const byKey = new Map<string, ServiceView>();
    for (const w of this.workloads()) {
      // An ingress gateway is a client of the mesh, not a service anyone can call.
      if (w.ingress) continue;
      const key = `${w.namespace}/${w.service}`;
      let s = byKey.get(key);
      if (s === undefined) {
        s = { namespace: w.namespace, name: w.service, identity: w.identity, ports: [], endpointsReady: 0, endpointsTotal: 0 };
        byKey.set(key, s);
      }
      for (const p of w.ports) if (!s.ports.some((q: PortSpec) => q.name === p.name)) s.ports.push({ ...p });
    }
    for (const sel of this.selectedServices()) {
      const first = sel.workloads[0] as WorkloadView;
      const s: ServiceView = { namespace: sel.namespace, name: sel.name, identity: first.identity, ports: [], endpointsReady: 0, endpointsTotal: 0, selector: sel.selector };
      for (const w of sel.workloads) for (const p of w.ports) if (!s.ports.some((q) => q.name === p.name)) s.ports.push({ ...p });
      byKey.set(`${sel.namespace}/${sel.name}`, s);
    }
    for (const ep of this.endpoints()) {
      const s = byKey.get(`${ep.namespace}/${ep.service}`);
      if (s === undefined) continue;
      s.endpointsTotal++;
      if (ep.ready) s.endpointsReady++;
    }
    return [...byKey.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  /** Protocol of a service port, or null when no workload declares it (selected services included). */
  portProtocol(namespace: string, service: string, port: string): Protocol | null {
    for (const w of this.servingWorkloads(namespace, service)) {
      const p = w.ports.find((q) => q.name === port);
      if (p !== undefined) return p.protocol;
    }
    return null;
  }

  /** Balancer the service's workloads ask callers to use (the first that names one), default peak-ewma. */
  loadBalancer(namespace: string, service: string): LoadBalancerKind {
    for (const w of this.servingWorkloads(namespace, service)) {
      if (!w.ingress && w.loadBalancer !== undefined) return w.loadBalancer;
    }
    return 'peak-ewma';
  }

  /** Workloads behind a service: those that serve it, else those a selected service of that name picks. */
  private servingWorkloads(namespace: string, service: string): WorkloadView[] {
    const own = this.workloads().filter((w) => w.namespace === namespace && w.service === service);
    if (own.length > 0) return own;
    return this.selectedServices().find((s) => s.namespace === namespace && s.name === service)?.workloads ?? [];
  }

  nodes(): ProxyNode[] {
    const out: ProxyNode[] = [];
    for (const w of this.workloads()) {
      for (const r of w.replicas) {
        out.push({
          nodeId: r.nodeId,
          identity: w.identity,
          agentId: w.agentId,
          namespace: w.namespace,
          workload: w.name,
          replica: r.replica,
          upstreams: [...w.upstreams],
          adminUrl: r.adminUrl,
          state: r.state,
          ready: r.state === 'ready',
        });
      }
    }
    return out;
  }

  node(nodeId: string): ProxyNode | undefined {
    return this.nodes().find((n) => n.nodeId === nodeId);
  }

  private sortedAgents(): [string, AgentEntry][] {
    return [...this.agents.entries()].sort(([a], [b]) => a.localeCompare(b));
  }
}
