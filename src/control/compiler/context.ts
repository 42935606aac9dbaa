import type { Resource } from '../../api/resources.js';
import type { ClusterConfig, RouteConfig } from '../../api/snapshot.js';
import { compileRouteTable } from '../../proxy/routing/compile.js';
import type { Registry } from '../registry/registry.js';
import { parentPorts, serviceKey, type ParentRefLike } from '../resources/refs.js';
import { DependencyIndex } from './dependency-index.js';
import { CompileInputs, inputKey } from './inputs.js';
import { RecordingMap } from './recording-map.js';
import { compileRoute, type RouteInputs } from './routes.js';

export const CONNECT_TIMEOUT_MS = 1000;

/** A route the proxy would refuse (its whole snapshot with it), so it was left out. */
export interface DroppedRoute {
  route: string;
  cluster: string;
  errors: string[];
}

/** Splits `<namespace>/<service>:<port>`; null when malformed. */
export function parseClusterName(name: string): { namespace: string; service: string; port: string } | null {
  const slash = name.indexOf('/');
  const colon = name.lastIndexOf(':');
  if (slash <= 0 || colon <= slash + 1 || colon === name.length - 1) return null;
  return { namespace: name.slice(0, slash), service: name.slice(slash + 1, colon), port: name.slice(colon + 1) };
}

/** A cluster as built (null: no such cluster), the inputs it read (input keys, inputs.ts) and the cluster's JSON once asked for. */
export interface Built<T> {
  readonly value: T | null;
  readonly inputs: ReadonlySet<string>;
  json?: string;
}

export type RoutedCluster = { cluster: ClusterConfig; referenced: string[] };

/**
 * Builds clusters from one state of the inputs and keeps them: a cluster is built once and
 * shared by every node that uses it, and it survives later states until an input it read
 * changes (`update`). Every read of an input is recorded (the services and faults maps the
 * route compiler looks things up in record each key asked for), so what a cluster depends on
 * is what it read, not a list kept beside the code that could drift from it.
 */
export class CompileContext {
  private readonly plain = new Map<string, Built<ClusterConfig>>();
  private readonly routed = new Map<string, Built<RoutedCluster>>();
  /** Items `backend:<name>` and `upstream:<name>`. */
  private readonly index = new DependencyIndex();

  constructor(
    private inputs: CompileInputs,
    private readonly onDroppedRoute: (d: DroppedRoute) => void = () => {},
  ) {}

  /** A context over the registry and resources as they are now (no tracing, no trust bundle: clusters only). */
  static of(registry: Registry, resources: readonly Resource[], onDroppedRoute?: (d: DroppedRoute) => void): CompileContext {
    return new CompileContext(CompileInputs.build(registry, resources, { trustDomain: registry.trustDomain, trustBundlePem: [], tracing: undefined }), onDroppedRoute);
  }

  /** Moves to the next state of the inputs, dropping every cluster that read one of `changed`. */
  update(inputs: CompileInputs, changed: Iterable<string>): void {
    this.inputs = inputs;
    for (const item of this.index.dependents(changed)) {
      this.index.remove(item);
      if (item.startsWith('backend:')) this.plain.delete(item.slice(8));
      else this.routed.delete(item.slice(9));
    }
  }

  /** Clusters kept (tests, metrics). */
  get size(): number {
    return this.plain.size + this.routed.size;
  }

  /** The cluster a node declared as an upstream: with the routes attached to it, and the clusters they send to. */
  upstream(name: string): Built<RoutedCluster> {
    let b = this.routed.get(name);
    if (b === undefined) {
      const inputs = new Set<string>();
      b = { value: this.buildRouted(name, inputs), inputs };
      this.routed.set(name, b);
      this.index.set(`upstream:${name}`, inputs);
    }
    return b;
  }

  /** A cluster a route sends to: endpoints and policy, no routes (GAMMA: backends are endpoints, not re-routed). */
  backend(name: string): Built<ClusterConfig> {
    let b = this.plain.get(name);
    if (b === undefined) {
      const inputs = new Set<string>();
      b = { value: this.buildPlain(name, inputs), inputs };
      this.plain.set(name, b);
      this.index.set(`backend:${name}`, inputs);
    }
    return b;
  }

  private buildPlain(name: string, read: Set<string>): ClusterConfig | null {
    const c = parseClusterName(name);
    if (c === null) return null;
    const svc = `${c.namespace}/${c.service}`;
    read.add(inputKey.service(svc));
    const port = this.inputs.services.get(svc)?.find((p) => p.name === c.port);
    // A selected service is in services too; a port nobody serves yields no cluster (`unknown-cluster`).
    const protocol = port?.protocol ?? this.inputs.portProtocol(c.namespace, c.service, c.port);
    if (protocol === null) return null;
    read.add(inputKey.policy(svc));
    read.add(inputKey.endpoints(name));
    const { loadBalancer, ...policy } = this.inputs.policy(svc) ?? {};
    return {
      name,
      namespace: c.namespace,
      service: c.service,
      port: c.port,
      protocol,
      loadBalancer: loadBalancer ?? this.inputs.loadBalancer(c.namespace, c.service),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      endpoints: this.inputs.endpoints(name),
      ...policy,
    };
  }

  private buildRouted(name: string, read: Set<string>): RoutedCluster | null {
    const b = this.backend(name);
    for (const k of b.inputs) read.add(k);
    const base = b.value;
    if (base === null) return null;
    const svc = `${base.namespace}/${base.service}`;
    read.add(inputKey.routes(svc));
    const services = new RecordingMap(this.inputs.services, inputKey.service, read);
    const routeInputs: RouteInputs = { services, faults: new RecordingMap(this.inputs.faults, inputKey.fault, read) };
    const referenced = new Set<string>();
    const routes: RouteConfig[] = [];
    for (const r of this.inputs.routesByParent.get(svc) ?? []) {
      const attaches = (r.spec as { parentRefs: ParentRefLike[] }).parentRefs.some((p) => {
        if (serviceKey(p, r.metadata.namespace) !== svc) return false;
        return parentPorts(p, r.metadata.namespace, services).ports.some((q) => q.name === base.port);
      });
      if (!attaches) continue;
      const refs = new Set<string>();
      const route = compileRoute(r, name, { name: base.port, protocol: base.protocol }, routeInputs, refs);
      // Checked with the proxy's own compiler: one route it would refuse must not cost the whole snapshot.
      const check = compileRouteTable({ routes: [route] });
      if (!check.ok) {
        this.onDroppedRoute({ route: `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, cluster: name, errors: check.errors.map((e) => `${e.path}: ${e.message}`) });
        continue;
      }
      routes.push(route);
      for (const x of refs) referenced.add(x);
    }
    if (routes.length === 0) return { cluster: base, referenced: [] };
    return { cluster: { ...base, routes: { routes } }, referenced: [...referenced].sort() };
  }
}
