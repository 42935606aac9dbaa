import type { AgentReport, EndpointView, PortSpec, ReplicaState, SelectorServiceReport, ServiceView, WorkloadView } from '../../api/registry.js';
import { selects, selectorServiceKey } from './selectors.js';

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

/**
 * The registry's views of one state of the agents' reports, each derived on first use and then
 * kept: the compiler, the push server (a node's identity on every stream open) and the API read
 * them far more often than agents report, and on a mesh of thousands of endpoints deriving them
 * on every call cost more than the compile itself. The registry drops this object on any change.
 * Views are shared: callers that hand them out copy them first.
 */
export class RegistryViews {
  private w: WorkloadView[] | null = null;
  private sel: SelectedService[] | null = null;
  private eps: EndpointView[] | null = null;
  private svcs: ServiceView[] | null = null;
  private ports: Map<string, readonly PortSpec[]> | null = null;
  private ns: ProxyNode[] | null = null;
  private byId: Map<string, ProxyNode> | null = null;
  private serve: Map<string, WorkloadView[]> | null = null;

  /** `agents` sorted by id; `identityOf` maps a workload to its SPIFFE ID. */
  constructor(
    private readonly agents: readonly [string, AgentReport][],
    private readonly identityOf: (w: WorkloadView | AgentReport['workloads'][number]) => string,
  ) {}

  get workloads(): readonly WorkloadView[] {
    if (this.w === null) {
      const out: WorkloadView[] = [];
      for (const [agentId, report] of this.agents) {
        for (const w of report.workloads) out.push({ ...w, agentId, identity: this.identityOf(w) });
      }
      this.w = out;
    }
    return this.w;
  }

  /**
   * Services declared by label selector that some workload matches, sorted by namespace/name.
   * The first agent (by id) to declare a name wins; a name a workload already serves is left out
   * (the workload's service is what callers get).
   */
  get selected(): readonly SelectedService[] {
    if (this.sel === null) {
      const workloads = this.workloads;
      const served = new Set(workloads.map((w) => `${w.namespace}/${w.service}`));
      const byKey = new Map<string, SelectedService>();
      for (const [, report] of this.agents) {
        for (const s of report.services ?? []) {
          const key = selectorServiceKey(s);
          if (byKey.has(key) || served.has(key)) continue;
          const matching = workloads.filter((w) => selects(s.selector, w, s.namespace));
          if (matching.length > 0) byKey.set(key, { namespace: s.namespace, name: s.name, selector: { ...s.selector }, workloads: matching });
        }
      }
      this.sel = [...byKey.values()].sort((a, b) => selectorServiceKey(a).localeCompare(selectorServiceKey(b)));
    }
    return this.sel;
  }

  /** Every endpoint: each workload's under its own service, then again under every selected service that picks it. */
  get endpoints(): readonly EndpointView[] {
    if (this.eps === null) {
      const out: EndpointView[] = [];
      for (const [service, w] of this.served) {
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
      this.eps = out;
    }
    return this.eps;
  }

  get services(): readonly ServiceView[] {
    if (this.svcs === null) {
      const byKey = new Map<string, ServiceView>();
      for (const w of this.workloads) {
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
      for (const sel of this.selected) {
        const first = sel.workloads[0] as WorkloadView;
        const s: ServiceView = { namespace: sel.namespace, name: sel.name, identity: first.identity, ports: [], endpointsReady: 0, endpointsTotal: 0, selector: sel.selector };
        for (const w of sel.workloads) for (const p of w.ports) if (!s.ports.some((q) => q.name === p.name)) s.ports.push({ ...p });
        byKey.set(`${sel.namespace}/${sel.name}`, s);
      }
      for (const ep of this.endpoints) {
        const s = byKey.get(`${ep.namespace}/${ep.service}`);
        if (s === undefined) continue;
        s.endpointsTotal++;
        if (ep.ready) s.endpointsReady++;
      }
      this.svcs = [...byKey.values()].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    }
    return this.svcs;
  }

  /**
   * `namespace/name` -> the ports services() lists for it, derived the same way but without
   * counting endpoints (the compiler asks for this on every change; counting builds every endpoint view).
   */
  get servicePorts(): ReadonlyMap<string, readonly PortSpec[]> {
    if (this.ports === null) {
      const m = new Map<string, PortSpec[]>();
      const add = (list: PortSpec[], w: WorkloadView): void => {
        for (const p of w.ports) if (!list.some((q) => q.name === p.name)) list.push({ ...p });
      };
      for (const w of this.workloads) {
        if (w.ingress) continue;
        const key = `${w.namespace}/${w.service}`;
        let list = m.get(key);
        if (list === undefined) m.set(key, (list = []));
        add(list, w);
      }
      for (const sel of this.selected) {
        const list: PortSpec[] = [];
        for (const w of sel.workloads) add(list, w);
        m.set(`${sel.namespace}/${sel.name}`, list);
      }
      this.ports = m;
    }
    return this.ports;
  }

  /** Each workload and the service name its endpoints count under: its own, then every selected service that picks it. */
  get served(): readonly [string, WorkloadView][] {
    const out: [string, WorkloadView][] = this.workloads.map((w) => [w.service, w]);
    for (const s of this.selected) for (const w of s.workloads) out.push([s.name, w]);
    return out;
  }

  get nodes(): readonly ProxyNode[] {
    if (this.ns === null) {
      const out: ProxyNode[] = [];
      for (const w of this.workloads) {
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
      this.ns = out;
    }
    return this.ns;
  }

  get nodeById(): ReadonlyMap<string, ProxyNode> {
    if (this.byId === null) {
      this.byId = new Map();
      // The first wins, as a search of the list would find it.
      for (const n of this.nodes) if (!this.byId.has(n.nodeId)) this.byId.set(n.nodeId, n);
    }
    return this.byId;
  }

  /** `namespace/service` -> the workloads that serve it, else those the selected service of that name picks. */
  get serving(): ReadonlyMap<string, readonly WorkloadView[]> {
    if (this.serve === null) {
      const m = new Map<string, WorkloadView[]>();
      for (const w of this.workloads) {
        const k = `${w.namespace}/${w.service}`;
        let list = m.get(k);
        if (list === undefined) m.set(k, (list = []));
        list.push(w);
      }
      for (const s of this.selected) {
        const k = `${s.namespace}/${s.name}`;
        if (!m.has(k)) m.set(k, s.workloads);
      }
      this.serve = m;
    }
    return this.serve;
  }
}
