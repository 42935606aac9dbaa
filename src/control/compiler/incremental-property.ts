/**
 * The incremental-compilation property, shared by compiler/incremental.test.ts (MemoryStore and
 * FileStore) and test/integration/etcd-incremental.test.ts (EtcdStore over a real etcd, one
 * replica and two): a random mesh over a small universe (so that changes collide: the same
 * services, ports, labels and names come up again and again) goes through random sequences of
 * changes: agent reports (workloads, replicas becoming ready or not, endpoints moving,
 * upstreams, labels, selector services), agents going away, routes, policies and faults put and
 * deleted, inbound policy (AuthorizationPolicy on services, ports, routes and ExternalServices;
 * RateLimitPolicy, global ones split over ready replicas) and ExternalServices put and deleted,
 * the mesh's default authorization action, the trust bundle and tracing changing, the leader's
 * garbage collection forgetting
 * the versions of gone nodes, and control-plane restarts. After every change, one
 * SnapshotCache that has seen every step must hold, for every node, the same content as a new
 * SnapshotCache compiling everything at once, as compileClusters per node, with the `inbound`
 * inboundPolicyFor gives over all resources and the `egress` compileEgress gives; the versions must
 * be the store's; and exactly the nodes whose content differs from the store's must have got a
 * new version (one, shared, newer than any before), with only their stored entries written.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AgentReport, PortSpec, SelectorServiceReport, WorkloadReport } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type { DefaultAction, TracingConfig } from '../../api/snapshot.js';
import { validateResource } from '../../config/resources/validate.js';
import { snapshotMessage } from '../push/snapshot-message.js';
import { inboundPolicyFor } from '../policy/inbound-policy.js';
import { Registry, type ProxyNode } from '../registry/registry.js';
import { MemoryStore } from '../store/memory-store.js';
import { resourceKey, type Store, type StoredSnapshotVersion } from '../store/store.js';
import { agentReport, workload } from '../test-support.js';
import { compileClusters, contentHash } from './compiler.js';
import { compileEgress } from './egress.js';
import { SnapshotCache } from './snapshot-cache.js';

const NS = ['default', 'other'] as const;
const SVC = ['a', 'b', 'c'] as const;
const PORTS: PortSpec[] = [
  { name: 'http', protocol: 'http' },
  { name: 'grpc', protocol: 'grpc' },
  { name: 'sql', protocol: 'tcp' },
];
/** Mostly `default`: names must collide across workloads, routes and policies for changes to matter. */
const nsArb = fc.oneof({ weight: 5, arbitrary: fc.constant('default') }, { weight: 1, arbitrary: fc.constant('other') });
const clusterArb = fc
  .record({ ns: nsArb, svc: fc.constantFrom(...SVC, 'a-v2', 'gone'), port: fc.oneof({ weight: 4, arbitrary: fc.constant('http') }, { weight: 1, arbitrary: fc.constantFrom('grpc', 'sql') }) })
  .map((c) => `${c.ns}/${c.svc}:${c.port}`);
const GW = 'gateway.networking.k8s.io/v1';
const TD = 'trellis.dev/v1alpha1';

const workloadArb = fc
  .record({
    ns: nsArb,
    svc: fc.constantFrom(...SVC),
    variant: fc.constantFrom('', '-v2'),
    version: fc.constantFrom('v1', 'v2'),
    ports: fc.oneof({ weight: 3, arbitrary: fc.constant(PORTS.slice(0, 1)) }, { weight: 2, arbitrary: fc.subarray(PORTS, { minLength: 1 }) }),
    upstreams: fc.uniqueArray(clusterArb, { maxLength: 3 }),
    ingress: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    lb: fc.constantFrom(undefined, 'round-robin' as const),
    replicas: fc.array(fc.record({ ready: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), port: fc.integer({ min: 20000, max: 20004 }) }), { minLength: 0, maxLength: 2 }),
  })
  .map((w): WorkloadReport => {
    const name = `${w.svc}${w.variant}`;
    const base = workload(name, { service: w.svc, readyPorts: w.replicas.map((r) => r.port), upstreams: w.upstreams, ingress: w.ingress, labels: { version: w.version }, ports: w.ports });
    return {
      ...base,
      namespace: w.ns,
      ...(w.lb !== undefined ? { loadBalancer: w.lb } : {}),
      replicas: base.replicas.map((r, i) => ({
        ...r,
        nodeId: `${w.ns}/${name}/${i}`,
        state: w.replicas[i]?.ready === true ? 'ready' : 'starting',
        endpoints: w.ports.map((p) => ({ port: p.name, protocol: p.protocol, host: '127.0.0.1', portNumber: r.endpoints[0]?.portNumber ?? 1 })),
      })),
    };
  });

const selectorArb: fc.Arbitrary<SelectorServiceReport> = fc.record({
  namespace: nsArb,
  name: fc.constantFrom('a-v2', 'b', 'gone'),
  selector: fc.constantFrom<Record<string, string>>({ version: 'v2' }, { app: 'a', version: 'v2' }, { app: 'c' }),
});

const ref = fc
  .record({ name: fc.constantFrom(...SVC, 'a-v2', 'gone'), namespace: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...NS) }) })
  .map((r) => (r.namespace === undefined ? { name: r.name } : r));
const parentRef = fc
  .tuple(ref, fc.constantFrom<Record<string, unknown>>({}, {}, { sectionName: 'http' }, { sectionName: 'grpc' }, { port: 80 }))
  .map(([r, extra]) => ({ ...r, ...extra }));
const filter = fc.constantFrom<Record<string, unknown>[]>(
  [],
  [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'c' } } }],
  [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'a' } } }],
  [{ type: 'ExtensionRef', extensionRef: { group: 'trellis.dev', kind: 'FaultInjection', name: 'f0' } }],
  [{ type: 'ExtensionRef', extensionRef: { group: 'trellis.dev', kind: 'FaultInjection', name: 'f0' } }],
  [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-v', value: '2' }] } }],
);
const createdArb = fc.constantFrom('2024-01-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z');

const resourceArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ name: fc.constantFrom('r0', 'r1'), ns: nsArb, parents: fc.array(parentRef, { minLength: 1, maxLength: 2 }), backends: fc.array(ref, { maxLength: 2 }), filters: filter, weight: fc.integer({ min: 0, max: 3 }) }).map((r) => ({
    apiVersion: GW,
    kind: 'HTTPRoute',
    metadata: { name: r.name, namespace: r.ns },
    spec: { parentRefs: r.parents, rules: [{ filters: r.filters, backendRefs: r.backends.map((b) => ({ ...b, weight: r.weight })) }] },
  })),
  fc.record({ name: fc.constantFrom('g0', 'g1'), ns: nsArb, parents: fc.array(parentRef, { minLength: 1, maxLength: 1 }), backends: fc.array(ref, { minLength: 1, maxLength: 2 }) }).map((r) => ({
    apiVersion: GW,
    kind: 'GRPCRoute',
    metadata: { name: r.name, namespace: r.ns },
    spec: { parentRefs: r.parents, rules: [{ backendRefs: r.backends }] },
  })),
  fc.record({ name: fc.constantFrom('p0', 'p1'), ns: nsArb, target: ref, lb: fc.constantFrom('round-robin', 'least-request') }).map((p) => ({
    apiVersion: TD,
    kind: 'DestinationPolicy',
    metadata: { name: p.name, namespace: p.ns },
    spec: { targetRef: p.target, loadBalancer: { type: p.lb }, outlierDetection: { consecutive5xx: 3 } },
  })),
  // Inbound policy: on a Service (a port of it or all), or on a route (which limits it to what the route sends to).
  fc
    .record({
      name: fc.constantFrom('z0', 'z1'),
      ns: nsArb,
      target: fc.oneof(
        { weight: 3, arbitrary: fc.record({ name: fc.constantFrom(...SVC, 'a-v2', 'gone'), sectionName: fc.constantFrom(undefined, 'http', 'grpc') }).map((t) => (t.sectionName === undefined ? { name: t.name } : t)) },
        { weight: 3, arbitrary: fc.constantFrom({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r0' }, { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'g0' }) },
        // An egress policy: compiled into every snapshot's `egress`, never into `inbound`.
        { weight: 2, arbitrary: fc.constantFrom({ group: 'trellis.dev', kind: 'ExternalService', name: 'x0' }, { group: 'trellis.dev', kind: 'ExternalService', name: 'x1' }) },
      ),
      action: fc.constantFrom('ALLOW', 'DENY', 'AUDIT'),
      def: fc.constantFrom(undefined, 'deny', 'authenticated', 'allow'),
    })
    .map((a) => ({
      apiVersion: TD,
      kind: 'AuthorizationPolicy',
      metadata: { name: a.name, namespace: a.ns },
      spec: { targetRef: a.target, action: a.action, rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }], ...(a.def !== undefined && !('kind' in a.target) ? { defaultAction: a.def } : {}) },
    })),
  fc.record({ name: fc.constantFrom('l0', 'l1'), ns: nsArb, svc: fc.constantFrom(...SVC, 'a-v2'), rps: fc.constantFrom(10, 60), global: fc.boolean() }).map((l) => ({
    apiVersion: TD,
    kind: 'RateLimitPolicy',
    metadata: { name: l.name, namespace: l.ns },
    spec: { targetRef: { name: l.svc }, total: { requestsPerSecond: l.rps, ...(l.global ? { global: true } : {}) }, perIdentity: { requestsPerSecond: 5 } },
  })),
  // Egress: the same `egress` in every snapshot; a change to it recompiles every node.
  fc.record({ name: fc.constantFrom('x0', 'x1'), ns: nsArb, port: fc.constantFrom(443, 80) }).map((x) => ({
    apiVersion: TD,
    kind: 'ExternalService',
    metadata: { name: x.name, namespace: x.ns },
    spec: { hostname: `${x.name}.example.com`, port: x.port, protocol: x.port === 443 ? 'TLS' : 'HTTP' },
  })),
  fc.record({ name: fc.oneof({ weight: 3, arbitrary: fc.constant('f0') }, { weight: 1, arbitrary: fc.constant('f1') }), ns: nsArb, status: fc.integer({ min: 500, max: 503 }) }).map((f) => ({
    apiVersion: TD,
    kind: 'FaultInjection',
    metadata: { name: f.name, namespace: f.ns },
    spec: { abort: { httpStatus: f.status, percentage: 10 } },
  })),
);

export type Step =
  | { t: 'report'; agent: string; workloads: WorkloadReport[]; services: SelectorServiceReport[] }
  | { t: 'flip'; agent: string; index: number }
  | { t: 'drop'; agent: string }
  | { t: 'rejoin'; agent: string }
  | { t: 'put'; raw: Record<string, unknown>; created: string }
  | { t: 'delete'; index: number }
  | { t: 'bundle'; pem: string }
  | { t: 'tracing'; ratio: number | null }
  /** The mesh file's authorization defaultAction (every proxy with ports recompiles). */
  | { t: 'default'; action: DefaultAction }
  /** The leader's garbage collection: forget the stored versions of nodes not present. */
  | { t: 'gc' }
  /** The control plane restarts: a new SnapshotCache (over the store reopened). */
  | { t: 'restart' };

export const AGENTS = ['h1', 'h2', 'h3'];
export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('report' as const), agent: fc.constantFrom(...AGENTS), workloads: fc.array(workloadArb, { maxLength: 4, size: 'max' }), services: fc.array(selectorArb, { maxLength: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('flip' as const), agent: fc.constantFrom(...AGENTS), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), agent: fc.constantFrom(...AGENTS) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rejoin' as const), agent: fc.constantFrom(...AGENTS) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('put' as const), raw: resourceArb, created: createdArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('delete' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bundle' as const), pem: fc.constantFrom('ROOT-1', 'ROOT-2') }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tracing' as const), ratio: fc.constantFrom(null, 0.01, 0.5) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('default' as const), action: fc.constantFrom<DefaultAction>('allow', 'deny', 'authenticated') }) },
  { weight: 1, arbitrary: fc.constant({ t: 'gc' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
);

/** The mesh a sequence of steps builds: a registry, resources by key, bundle and tracing. */
export class World {
  readonly registry = new Registry('td');
  readonly reports = new Map<string, AgentReport>();
  /** The last report of each agent that was dropped. */
  readonly dropped = new Map<string, AgentReport>();
  readonly resources = new Map<string, Resource>();
  bundle = ['ROOT-1'];
  tracing: TracingConfig | undefined = undefined;
  defaultAction: DefaultAction = 'allow';

  apply(s: Step): void {
    switch (s.t) {
      case 'report': {
        const r: AgentReport = { ...agentReport(s.agent, s.workloads), ...(s.services.length > 0 ? { services: s.services } : {}) };
        this.reports.set(s.agent, r);
        this.registry.upsert(structuredClone(r), 0);
        return;
      }
      case 'flip': {
        // One replica becomes ready or stops being: an endpoints-only change.
        const r = this.reports.get(s.agent);
        const replicas = r?.workloads.flatMap((w) => w.replicas) ?? [];
        if (r === undefined || replicas.length === 0) return;
        const next = structuredClone(r);
        const rep = next.workloads.flatMap((w) => w.replicas)[s.index % replicas.length];
        if (rep !== undefined) rep.state = rep.state === 'ready' ? 'unhealthy' : 'ready';
        this.reports.set(s.agent, next);
        this.registry.upsert(structuredClone(next), 0);
        return;
      }
      case 'drop': {
        const r = this.reports.get(s.agent);
        if (r !== undefined) this.dropped.set(s.agent, r);
        this.reports.delete(s.agent);
        this.registry.remove(s.agent);
        return;
      }
      case 'rejoin': {
        // The agent is back with the report it had (its lease lapsed, or it restarted).
        const r = this.dropped.get(s.agent);
        if (r === undefined || this.reports.has(s.agent)) return;
        this.reports.set(s.agent, r);
        this.registry.upsert(structuredClone(r), 0);
        return;
      }
      case 'put': {
        const v = validateResource(s.raw);
        if (!v.ok) return;
        const r: Resource = { ...v.resource, metadata: { ...v.resource.metadata, generation: 1, resourceVersion: '1', creationTimestamp: s.created } };
        this.resources.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
        return;
      }
      case 'delete': {
        const keys = [...this.resources.keys()];
        if (keys.length > 0) this.resources.delete(keys[s.index % keys.length] as string);
        return;
      }
      case 'bundle':
        this.bundle = [s.pem];
        return;
      case 'tracing':
        this.tracing = s.ratio === null ? undefined : { endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: s.ratio };
        return;
      case 'default':
        this.defaultAction = s.action;
        return;
      case 'gc':
      case 'restart':
        return;
    }
  }

  cache(store: Store = new MemoryStore()): SnapshotCache {
    return new SnapshotCache(this.registry, store, () => this.bundle, () => [...this.resources.values()], undefined, () => this.tracing, () => this.defaultAction);
  }

  /**
   * A node's inbound policy as inboundPolicyFor gives it from every resource and the registry
   * directly (null when it enforces nothing): what the compiler's filtering by service must equal.
   */
  inboundOf(node: ProxyNode): unknown {
    const served = this.registry.servedWorkloads();
    const owner = served.find(([, w]) => w.agentId === node.agentId && w.namespace === node.namespace && w.name === node.workload);
    if (owner === undefined) return null;
    const w = owner[1];
    const same = served.filter(([, x]) => x.agentId === w.agentId && x.namespace === w.namespace && x.name === w.name);
    if (w.ingress || w.ports.length === 0) return null;
    const ready = (svc: string): number => served.filter(([s, x]) => `${x.namespace}/${s}` === svc).reduce((n, [, x]) => n + x.replicas.filter((r) => r.state === 'ready').length, 0);
    const r = inboundPolicyFor({
      resources: [...this.resources.values()],
      services: this.registry.servicePorts(),
      workload: { namespace: w.namespace, services: [...new Set(same.map(([s]) => s))], ports: w.ports },
      meshDefaultAction: this.defaultAction,
      readyReplicas: ready,
    });
    return r.inbound.every((p) => p.defaultAction === 'allow' && p.authorization.length === 0 && p.rateLimits.length === 0) ? null : r.inbound;
  }
}

/** How often the interesting cases came up (asserted by the MemoryStore run, so the generator cannot silently stop reaching them). */
export const seen = { partialPasses: 0, routedClusters: 0, faults: 0, policies: 0, mirrors: 0, restarts: 0, comebacks: 0, inbound: 0, routeTargetedAuthz: 0, globalLimits: 0, egress: 0, egressPolicies: 0 };

/** The store under test, fresh for each sequence; `reopen` stands for a restart (default: the same store). */
export interface PropertyStore {
  store: Store;
  reopen?: () => Promise<Store>;
  close?: () => Promise<void>;
}

export async function checkSequence(steps: Step[], fixture: PropertyStore): Promise<void> {
  const world = new World();
  let store = fixture.store;
  let inc = world.cache(store);
  await inc.recompile();
  try {
    for (const [i, step] of steps.entries()) {
      const resourcesBefore = new Map(world.resources);
      world.apply(step);
      // The same change written to the store, as the control plane would: its revision (a
      // compile's basis) moves as in the product, and must keep making sense across restarts.
      await mirror(store, step, world, resourcesBefore);
      const at = `after step ${i} (${step.t})`;
      if (step.t === 'gc') {
        const present = new Set(world.registry.nodes().map((n) => n.nodeId));
        await store.forgetSnapshotVersions([...store.snapshotVersions().keys()].filter((id) => !present.has(id)));
      }
      if (step.t === 'restart') {
        if (fixture.reopen !== undefined) store = await fixture.reopen();
        inc = world.cache(store);
        seen.restarts++;
      }
      const had = new Set(inc.all().map((c) => c.nodeId));
      const before = new Map<string, StoredSnapshotVersion>(store.snapshotVersions());
      const highest = Math.max(0, ...[...before.values()].map((v) => v.version));
      const changed = await inc.recompile();
      const full = world.cache();
      await full.recompile();
      assert.deepEqual(inc.all().map((c) => c.nodeId).sort(), full.all().map((c) => c.nodeId).sort(), `${at}: the same nodes`);
      const expectChanged: string[] = [];
      const newVersions = new Set<number>();
      for (const f of full.all()) {
        const c = inc.get(f.nodeId);
        assert.ok(c !== undefined);
        const { version: _v, ...content } = c.snapshot;
        const { version: _w, ...expected } = f.snapshot;
        assert.deepEqual(content, expected, `${at}: content of ${f.nodeId}`);
        assert.equal(c.hash, f.hash, `${at}: hash of ${f.nodeId}`);
        assert.equal(c.hash, contentHash(content), `${at}: the hash is contentHash's`);
        assert.equal(c.contentJson, JSON.stringify(content), `${at}: the kept JSON is the content's`);
        assert.equal(snapshotMessage(c).toString('utf8'), `${JSON.stringify({ type: 'snapshot', snapshot: c.snapshot })}\n`, `${at}: message bytes`);
        const node = world.registry.nodes().filter((n) => n.nodeId === f.nodeId).at(-1);
        assert.ok(node !== undefined);
        assert.deepEqual(content.clusters, compileClusters(node, world.registry, [...world.resources.values()]), `${at}: clusters of ${f.nodeId} as compiled alone`);
        assert.deepEqual(content.inbound ?? null, world.inboundOf(node), `${at}: inbound policy of ${f.nodeId} as inboundPolicyFor gives it from everything`);
        assert.deepEqual(content.egress ?? [], compileEgress([...world.resources.values()]), `${at}: egress of ${f.nodeId} as compileEgress gives it`);
        if (content.egress !== undefined) {
          seen.egress++;
          if (content.egress.some((x) => x.policy !== undefined)) seen.egressPolicies++;
        }
        if (content.inbound !== undefined) {
          seen.inbound++;
          if (content.inbound.some((p) => p.authorization.some((a) => a.route !== undefined))) seen.routeTargetedAuthz++;
          if (content.inbound.some((p) => p.rateLimits.some((l) => l.total?.global !== undefined))) seen.globalLimits++;
        }
        const stored = store.snapshotVersions().get(f.nodeId);
        assert.equal(stored?.version, c.version, `${at}: the version of ${f.nodeId} is the store's`);
        assert.equal(stored?.hash, c.hash, `${at}: stored hash of ${f.nodeId}`);
        const was = before.get(f.nodeId);
        if (was?.hash === c.hash) {
          assert.equal(c.version, was.version, `${at}: ${f.nodeId}'s content is the stored one: its version is kept`);
          // A node that was away (its agent dropped or reported without it) comes back as it was.
          if (!had.has(f.nodeId) && step.t !== 'restart') seen.comebacks++;
        } else {
          expectChanged.push(f.nodeId);
          assert.ok(c.version > highest, `${at}: ${f.nodeId}'s new version ${c.version} is newer than every stored one (${highest})`);
          newVersions.add(c.version);
        }
      }
      assert.ok(newVersions.size <= 1, `${at}: one new version per pass, got ${[...newVersions].join(',')}`);
      assert.deepEqual([...changed].sort(), expectChanged.sort(), `${at}: new versions for exactly the nodes whose content differs from the store's`);
      // Only the changed nodes' entries were written; those of nodes not present are left to the garbage collection.
      const written = [...store.snapshotVersions()].filter(([id, v]) => before.get(id)?.version !== v.version || before.get(id)?.hash !== v.hash).map(([id]) => id);
      assert.deepEqual(written.sort(), expectChanged.sort(), `${at}: stored entries written`);
      for (const [id, v] of before) if (inc.get(id) === undefined) assert.deepEqual(store.snapshotVersions().get(id), v, `${at}: ${id} (not present) keeps its stored entry`);
      const p = inc.lastPass;
      if (p !== null && p.inputsChanged !== 'all' && p.groupsCompiled > 0 && p.nodesCompiled < p.nodes) seen.partialPasses++;
      for (const c of full.all()) {
        for (const cl of c.snapshot.clusters) {
          if (cl.routes !== undefined) seen.routedClusters++;
          if (cl.outlierDetection !== undefined) seen.policies++;
          const text = JSON.stringify(cl.routes ?? null);
          if (text.includes('"Fault"')) seen.faults++;
          if (text.includes('RequestMirror')) seen.mirrors++;
        }
      }
    }
  } finally {
    await fixture.close?.();
  }
}

/** Writes a step's change of agents or resources to the store (the cache itself reads the world). */
async function mirror(store: Store, step: Step, world: World, resourcesBefore: ReadonlyMap<string, Resource>): Promise<void> {
  switch (step.t) {
    case 'report':
    case 'flip':
    case 'rejoin': {
      const report = world.reports.get(step.agent);
      if (report !== undefined) await store.putAgent({ report, receivedAt: 0 });
      return;
    }
    case 'drop':
      await store.deleteAgent(step.agent);
      return;
    case 'put':
    case 'delete': {
      const put = [...world.resources].filter(([k, r]) => resourcesBefore.get(k) !== r).map(([, r]) => r);
      const remove = [...resourcesBefore.keys()].filter((k) => !world.resources.has(k));
      if (put.length > 0 || remove.length > 0) await store.commitResources({ version: store.resourceVersion() + 1, put, remove });
      return;
    }
    default:
      return;
  }
}
