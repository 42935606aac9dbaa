import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { ServiceView } from '../../api/registry.js';
import type { ApplyResult, Resource, ResourceChangeEvent, ResourceIssue, ResourceKind, ResourceRef, ResourceView } from '../../api/resources.js';
import { problemPath, validateResource } from '../../config/resources/validate.js';
import { TrellisError } from '../../errors.js';
import { resourceKey, StoreConflictError, type Store } from '../store/store.js';
import { policyWinners } from './refs.js';
import { statusOf } from './status.js';

/** An apply that was refused whole: every problem of every resource, with its field path. */
export class ResourceValidationError extends TrellisError {
  constructor(readonly issues: ResourceIssue[]) {
    const first = issues[0];
    const line = (i: ResourceIssue): string => `resources[${i.index}] ${i.kind}/${i.name}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`;
    super('TRELLIS_E_CONFIG', first === undefined ? 'invalid resources' : [line(first), ...issues.slice(1).map(line)].join('\n'));
  }
}

export interface ResourceStoreEvents {
  changed: [ResourceChangeEvent];
}

/**
 * Mesh resources on top of the Store: validation (all-or-nothing per apply), versions
 * (`resourceVersion` per change, `generation` per spec change), status computed at read time
 * against the registry's services, and a `changed` event after every stored change.
 */
export class ResourceStore extends EventEmitter<ResourceStoreEvents> {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly services: () => ServiceView[],
    private readonly clock: () => number,
  ) {
    super();
  }

  /** Validates every resource, then stores them all or none. `dryRun`: only says what would change. */
  apply(items: unknown[], dryRun: boolean): Promise<ApplyResult> {
    return this.serial(() => this.retryOnConflict(() => this.applyOnce(items, dryRun)));
  }

  private async applyOnce(items: unknown[], dryRun: boolean): Promise<ApplyResult> {
    const issues: ResourceIssue[] = [];
    const valid: Resource[] = [];
    const seen = new Set<string>();
    items.forEach((raw, index) => {
      const v = validateResource(raw);
      if (!v.ok) {
        for (const p of v.problems) issues.push({ index, kind: v.kind, name: v.name, path: problemPath(p), message: p.message });
        return;
      }
      const key = keyOf(v.resource);
      if (seen.has(key)) issues.push({ index, kind: v.resource.kind, name: v.resource.metadata.name, path: '', message: 'appears twice in this apply' });
      seen.add(key);
      valid.push(v.resource);
    });
    if (issues.length > 0) throw new ResourceValidationError(issues);

    const version = this.store.resourceVersion() + 1;
    const now = new Date(this.clock()).toISOString();
    const put: Resource[] = [];
    const results: ApplyResult['results'] = [];
    for (const r of valid) {
      const old = this.store.resources().get(keyOf(r));
      const ref = { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name };
      if (old === undefined) {
        const stored = withMeta(r, { resourceVersion: String(version), generation: 1, creationTimestamp: now });
        put.push(stored);
        results.push({ ...ref, action: 'created', resourceVersion: String(version), generation: 1 });
        continue;
      }
      const specChanged = !isDeepStrictEqual(old.spec, r.spec);
      const metaChanged = !isDeepStrictEqual(old.metadata.labels, r.metadata.labels) || !isDeepStrictEqual(old.metadata.annotations, r.metadata.annotations);
      const generation = old.metadata.generation ?? 1;
      if (!specChanged && !metaChanged) {
        results.push({ ...ref, action: 'unchanged', resourceVersion: old.metadata.resourceVersion ?? '0', generation });
        continue;
      }
      const g = specChanged ? generation + 1 : generation;
      put.push(withMeta(r, { resourceVersion: String(version), generation: g, creationTimestamp: old.metadata.creationTimestamp ?? now }));
      results.push({ ...ref, action: 'configured', resourceVersion: String(version), generation: g });
    }
    if (!dryRun && put.length > 0) {
      await this.store.commitResources({ version, put, remove: [] });
      this.emit('changed', { version, changed: put.map(refOf), deleted: [] });
    }
    return { dryRun, results };
  }

  /** True when it was there (and is now gone). */
  delete(kind: ResourceKind, namespace: string, name: string): Promise<boolean> {
    return this.serial(() =>
      this.retryOnConflict(async () => {
        const key = resourceKey(kind, namespace, name);
        if (!this.store.resources().has(key)) return false;
        const version = this.store.resourceVersion() + 1;
        await this.store.commitResources({ version, put: [], remove: [key] });
        this.emit('changed', { version, changed: [], deleted: [{ kind, namespace, name }] });
        return true;
      }),
    );
  }

  /**
   * Another replica may commit between this one reading the resources and writing its batch
   * (the store refuses the stale batch): catch up with the store and compute the change again,
   * so generations and "unchanged" are judged against what is really stored.
   */
  private async retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof StoreConflictError) || attempt >= 5) throw err;
        await this.store.sync();
      }
    }
  }

  /** Every stored resource (of one kind), sorted by kind, namespace, name, with status. */
  list(kind?: ResourceKind): ResourceView[] {
    const all = [...this.store.resources().values()].filter((r) => kind === undefined || r.kind === kind);
    all.sort((a, b) => a.kind.localeCompare(b.kind) || a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
    return this.withStatus(all);
  }

  get(kind: ResourceKind, namespace: string, name: string): ResourceView | undefined {
    const r = this.store.resources().get(resourceKey(kind, namespace, name));
    return r === undefined ? undefined : this.withStatus([r])[0];
  }

  /** Stored resources without status (what the compiler will read). */
  resources(): Resource[] {
    return [...this.store.resources().values()];
  }

  private withStatus(list: Resource[]): ResourceView[] {
    const services = new Map(this.services().map((s) => [`${s.namespace}/${s.name}`, s.ports]));
    const all = [...this.store.resources().values()];
    const faults = new Set(all.filter((r) => r.kind === 'FaultInjection').map((r) => `${r.metadata.namespace}/${r.metadata.name}`));
    const policyWinnersMap = policyWinners(all);
    // Policy targets other than Services, by `<kind>/<ns>/<name>`: routes and ExternalServices.
    const routes = new Set(all.filter((r) => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute' || r.kind === 'ExternalService').map((r) => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`));
    const now = new Date(this.clock()).toISOString();
    return list.map((r) => ({ ...r, status: statusOf(r, { services, faults, policyWinners: policyWinnersMap, routes, now }) }));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => {});
    return p;
  }
}

function keyOf(r: Resource): string {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

function refOf(r: Resource): ResourceRef {
  return { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name };
}

function withMeta(r: Resource, m: { resourceVersion: string; generation: number; creationTimestamp: string }): Resource {
  return { ...r, metadata: { ...r.metadata, ...m } };
}
