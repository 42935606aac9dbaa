import { EventEmitter } from 'node:events';
import type { Protocol } from '../../api/common.js';
import type { LoadBalancerKind } from '../../api/snapshot.js';
import type { AgentReport, EndpointView, PortSpec, ServiceView, WorkloadReport, WorkloadView } from '../../api/registry.js';
import { spiffeId } from '../../identity/spiffe.js';
import { RegistryViews, type ProxyNode, type SelectedService } from './views.js';

export type { ProxyNode, SelectedService } from './views.js';

interface AgentEntry {
  report: AgentReport;
  receivedAt: number;
  expiresAt: number;
}

export interface RegistryEvents {
  changed: [];
}

/**
 * Agent reports turned into services, workloads, endpoints and proxy nodes. Each agent's
 * report replaces its previous one whole. A lease ends `leaseMs` after the last report;
 * expire(now) drops lapsed agents. Time is always passed in, never read here. The views are
 * derived once per change (views.ts) and copied out.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  private readonly agents = new Map<string, AgentEntry>();
  private derived: RegistryViews | null = null;
  private gen = 0;

  constructor(readonly trustDomain: string) {
    super();
  }

  /** Bumped by every change of content (a renewal with the same content keeps it): readers may cache by it. */
  get generation(): number {
    return this.gen;
  }

  /** Stores a report and (re)starts its lease at `now`. Emits 'changed' when the content differs. */
  upsert(report: AgentReport, now: number): void {
    const prev = this.agents.get(report.agentId);
    this.agents.set(report.agentId, { report, receivedAt: now, expiresAt: now + report.leaseMs });
    const same = prev !== undefined && JSON.stringify(prev.report.workloads) === JSON.stringify(report.workloads) && JSON.stringify(prev.report.services) === JSON.stringify(report.services);
    // The views are rebuilt from the new report objects either way; equal content keeps the generation.
    this.derived = null;
    if (!same) this.changed();
  }

  remove(agentId: string): boolean {
    const had = this.agents.delete(agentId);
    if (had) this.changed();
    return had;
  }

  /** Drops every agent whose lease ended at or before `now`; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.agents) if (e.expiresAt <= now) gone.push(id);
    for (const id of gone) this.agents.delete(id);
    if (gone.length > 0) this.changed();
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
    return [...this.views().workloads];
  }

  /**
   * Services declared by label selector that some workload matches, sorted by namespace/name.
   * The first agent (by id) to declare a name wins; a name a workload already serves is left out
   * (the workload's service is what callers get).
   */
  selectedServices(): SelectedService[] {
    return [...this.views().selected];
  }

  /** Every endpoint: each workload's under its own service, then again under every selected service that picks it. */
  endpoints(): EndpointView[] {
    return [...this.views().endpoints];
  }

  services(): ServiceView[] {
    // Copies: a caller may change a view's counts or ports without changing the registry.
    return this.views().services.map((s) => ({ ...s, ports: s.ports.map((p) => ({ ...p })) }));
  }

  /** Ports of every service (`namespace/name`) as services() lists them; shared, not to be modified. */
  servicePorts(): ReadonlyMap<string, readonly PortSpec[]> {
    return this.views().servicePorts;
  }

  /** Each workload with the service name its endpoints count under: its own, then every selected service that picks it (endpoints() order). */
  servedWorkloads(): readonly [string, WorkloadView][] {
    return this.views().served;
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
  servingWorkloads(namespace: string, service: string): readonly WorkloadView[] {
    return this.views().serving.get(`${namespace}/${service}`) ?? [];
  }

  nodes(): ProxyNode[] {
    return [...this.views().nodes];
  }

  node(nodeId: string): ProxyNode | undefined {
    return this.views().nodeById.get(nodeId);
  }

  private changed(): void {
    this.derived = null;
    this.gen++;
    this.emit('changed');
  }

  private views(): RegistryViews {
    if (this.derived === null) {
      const sorted = [...this.agents.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, e]): [string, AgentReport] => [id, e.report]);
      this.derived = new RegistryViews(sorted, (w) => this.identityOf(w));
    }
    return this.derived;
  }
}
