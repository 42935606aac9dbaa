/**
 * Incremental compilation with versions from a real etcd (one member shared by the file, a key
 * prefix per run). First the single-replica property of compiler/incremental-property.ts over
 * EtcdStore (restarts reopen the store). Then two replicas, as two control planes run them: two
 * EtcdStores over one prefix, each with its own Registry fed by its watch and its own
 * SnapshotCache (recompiling on store changes, reconciling on `snapshots` changes). Random
 * bursts of changes are written through either replica without waiting for the other; replica
 * B is sometimes killed and replaced, and sometimes cut off from etcd (through a TCP relay) for
 * a burst, so that it hears the burst late and all at once and compiles it in one pass while
 * A compiled each change (the case where a replica skips content the other claimed). After
 * each burst both must settle on the same content as a full compile of the stored state, at
 * one version per node: the one in etcd.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AgentReport } from '../../src/api/registry.js';
import type { Resource } from '../../src/api/resources.js';
import type { TracingConfig } from '../../src/api/snapshot.js';
import { checkSequence, stepArb, World, type Step } from '../../src/control/compiler/incremental-property.js';
import { SnapshotCache } from '../../src/control/compiler/snapshot-cache.js';
import { Registry } from '../../src/control/registry/registry.js';
import { EtcdStore } from '../../src/control/store/etcd/etcd-store.js';
import { MemoryStore } from '../../src/control/store/memory-store.js';
import { workload } from '../../src/control/test-support.js';
import { StoreConflictError, type Store } from '../../src/control/store/store.js';
import { startEtcd, tcpRelay, type EtcdCluster, type TcpRelay } from '../helpers/etcd.js';

let etcd: EtcdCluster;

before(async () => {
  etcd = await startEtcd({ members: 1 });
});

after(async () => {
  await etcd?.stop();
});

/** `TRELLIS_FC_REPLAY='{"seed":1,"path":"0:1"}'` replays a reported counterexample. */
function replay(): { seed?: number; path?: string } {
  const r = process.env['TRELLIS_FC_REPLAY'];
  return r === undefined ? {} : (JSON.parse(r) as { seed: number; path: string });
}

const newPrefix = (): string => `/inc-${randomBytes(4).toString('hex')}/`;
const open = (prefix: string, hosts = etcd.endpoints): Promise<EtcdStore> => EtcdStore.open({ hosts, prefix, electionTtlSeconds: 2, replicaTtlSeconds: 2 });

describe('incremental compilation over EtcdStore', () => {
  it('a replica that hears a change and its undo at once (it was cut off) takes the version the other claimed for the content', async () => {
    const relay = await tcpRelay(etcd.members[0]?.clientPort as number);
    const mesh = await TwoReplicas.start(newPrefix(), relay);
    try {
      // web calls api; api has one ready replica.
      const workloads = [workload('web', { upstreams: ['default/api:http'], readyPorts: [20000] }), workload('api', { readyPorts: [20001] })];
      await mesh.apply({ t: 'report', agent: 'h1', workloads, services: [] }, false);
      await mesh.settle('after the first report');
      const before = mesh.versions('h1~default/web/0');
      // B is cut off while api's replica stops being ready and is ready again, both through A:
      // A compiles and claims both contents (web's goes H1 -> H2 -> H1: a new version for H1);
      // B hears both changes at once and compiles H1, which it had: nothing of its own changed.
      relay.cut();
      try {
        await mesh.apply({ t: 'flip', agent: 'h1', index: 1 }, false);
        await mesh.a.cache.idle();
        await mesh.apply({ t: 'flip', agent: 'h1', index: 1 }, false);
        await mesh.a.cache.idle();
      } finally {
        relay.restore();
      }
      const claimed = mesh.versions('h1~default/web/0');
      assert.ok((claimed.a as number) > (before.a as number), `A gave web's old content a new version (${JSON.stringify([before, claimed])})`);
      await mesh.settle('after B heard the change and its undo at once');
      const after = mesh.versions('h1~default/web/0');
      assert.equal(after.b, claimed.a, 'B took the version A claimed');
    } finally {
      await mesh.close();
      await relay.close();
    }
  });

  it('one replica: equals a full recompile; versions are etcd\'s, new exactly for changed content, one per pass', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 20, size: 'max' }), async (steps) => {
        const prefix = newPrefix();
        let store: Store = await open(prefix);
        try {
          await checkSequence(steps, {
            store,
            reopen: async () => {
              await store.close();
              return (store = await open(prefix));
            },
          });
        } finally {
          await store.close();
        }
      }),
      { numRuns: 10, endOnFailure: true, includeErrorInReport: true },
    );
  });

  it('two replicas: after any burst of changes through either, both hold one version per content, the stored one', async () => {
    // A burst: steps, each through A or B and maybe applied twice (a flip and its undo); B maybe cut off meanwhile.
    const burstArb = fc.record({ steps: fc.array(fc.tuple(stepArb, fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 4 }), cutB: fc.boolean() });
    const relay = await tcpRelay(etcd.members[0]?.clientPort as number);
    let cuts = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(burstArb, { minLength: 1, maxLength: 6 }), async (bursts) => {
          const mesh = await TwoReplicas.start(newPrefix(), relay);
          try {
            for (const [i, burst] of bursts.entries()) {
              if (burst.cutB) {
                relay.cut();
                cuts++;
              }
              let restartB = false;
              try {
                for (const [step, throughB, twice] of burst.steps) {
                  // A replica cannot start while etcd is out of its reach: B restarts once the cut ends.
                  if (step.t === 'restart' && burst.cutB) restartB = true;
                  else for (let n = twice ? 2 : 1; n > 0; n--) await mesh.apply(step, throughB && !burst.cutB);
                }
              } finally {
                relay.restore();
              }
              if (restartB) await mesh.apply({ t: 'restart' }, false);
              await mesh.settle(`after burst ${i} (${burst.cutB ? 'B cut off: ' : ''}${burst.steps.map(([st, b, t]) => `${st.t}@${b && !burst.cutB ? 'B' : 'A'}${t ? 'x2' : ''}`).join(' ')})`);
            }
          } finally {
            await mesh.close();
          }
        }),
        { numRuns: 6, endOnFailure: true, includeErrorInReport: true, ...replay() },
      );
    } finally {
      await relay.close();
    }
    assert.ok(cuts > 0, 'B was cut off in some burst');
  });
});

/**
 * Opens a store, retrying for a while: right after a cut, gRPC's shared connection to the relay
 * is still backing off, and a new client on it fails at once.
 */
async function openPatiently(prefix: string, hosts: string[]): Promise<EtcdStore> {
  for (const deadline = Date.now() + 20_000; ; ) {
    try {
      return await open(prefix, hosts);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** One control plane's compile side: its store view, the registry its watch feeds, its cache. */
interface Replica {
  store: EtcdStore;
  registry: Registry;
  cache: SnapshotCache;
  /** Runs a pass; a failed one is retried in 100 ms (as ControlPlane.compileFailed does). */
  recompile: () => void;
  errors: unknown[];
}

class TwoReplicas {
  private readonly world = new World();
  private readonly globals: { bundle: string[]; tracing: TracingConfig | undefined } = { bundle: ['ROOT-1'], tracing: undefined };
  a!: Replica;
  b!: Replica;

  private constructor(
    private readonly prefix: string,
    private readonly relay: TcpRelay,
  ) {}

  /** A talks to etcd directly, B through the relay (so B alone can be cut off). */
  static async start(prefix: string, relay: TcpRelay): Promise<TwoReplicas> {
    const m = new TwoReplicas(prefix, relay);
    m.a = await m.replica(etcd.endpoints);
    m.b = await m.replica([`http://${relay.address}`]);
    return m;
  }

  /** As ControlPlane wires them: agents into the registry, resources and registry changes recompile, snapshot entries reconcile. */
  private async replica(hosts: string[]): Promise<Replica> {
    const store = await openPatiently(this.prefix, hosts);
    const registry = new Registry('td');
    const errors: unknown[] = [];
    const cache = new SnapshotCache(registry, store, () => this.globals.bundle, () => [...store.resources().values()], undefined, () => this.globals.tracing);
    // A failed pass (B cut off mid-claim) is retried, as ControlPlane.compileFailed does.
    const failed = (e: unknown): void => {
      errors.push(e);
      setTimeout(() => void cache.recompile().catch(failed), 100).unref();
    };
    const recompile = (): void => void cache.recompile().catch(failed);
    for (const a of store.agents()) registry.upsert(a.report, 0);
    registry.on('changed', recompile);
    store.onChange((c) => {
      if (c.kind === 'agent') {
        if (c.agent !== null) registry.upsert(c.agent.report, 0);
        else registry.remove(c.agentId);
      } else if (c.kind === 'resources') recompile();
      else if (c.kind === 'snapshots') void cache.reconcile(c.nodeIds).catch(failed);
    });
    await cache.recompile();
    return { store, registry, cache, recompile, errors };
  }

  /** Applies a step to the reference world and writes the same change through replica A or B. */
  async apply(step: Step, throughB: boolean): Promise<void> {
    const r = throughB ? this.b : this.a;
    const keysBefore = new Set(this.world.resources.keys());
    this.world.apply(step);
    switch (step.t) {
      case 'report':
      case 'flip':
      case 'rejoin': {
        const report = this.world.reports.get(step.agent);
        if (report !== undefined) await r.store.putAgent({ report: distinctNodes(report), receivedAt: 0 });
        return;
      }
      case 'drop':
        await r.store.deleteAgent(step.agent);
        return;
      case 'put':
      case 'delete': {
        const put: Resource[] = [];
        const remove: string[] = [];
        for (const [k, res] of this.world.resources) if (this.stored(r, k) !== JSON.stringify(res)) put.push(res);
        for (const k of keysBefore) if (!this.world.resources.has(k)) remove.push(k);
        if (put.length > 0 || remove.length > 0) await this.commit(r.store, put, remove);
        return;
      }
      case 'bundle':
        this.globals.bundle = this.world.bundle;
        break;
      case 'tracing':
        this.globals.tracing = this.world.tracing;
        break;
      case 'gc': {
        // The leader's collection, from what replica A sees now (it may lag B's writes).
        const present = new Set(this.a.registry.nodes().map((n) => n.nodeId));
        await this.a.store.forgetSnapshotVersions([...this.a.store.snapshotVersions().keys()].filter((id) => !present.has(id)));
        return;
      }
      case 'restart':
        // Replica B is killed (its view and cache gone) and a new one starts over the same etcd.
        await this.b.store.close();
        this.b = await this.replica([`http://${this.relay.address}`]);
        return;
    }
    // Settings are each replica's own: both pick them up on their next pass.
    for (const x of [this.a, this.b]) x.recompile();
    await Promise.all([this.a.cache.idle(), this.b.cache.idle()]).catch(() => undefined);
  }

  private stored(r: Replica, key: string): string | undefined {
    const v = r.store.resources().get(key);
    return v === undefined ? undefined : JSON.stringify(v);
  }

  private async commit(store: EtcdStore, put: Resource[], remove: string[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await store.commitResources({ version: store.resourceVersion() + 1, put, remove });
        return;
      } catch (err) {
        if (!(err instanceof StoreConflictError) || attempt > 5) throw err;
        await store.sync();
      }
    }
  }

  /** Waits (bounded) until both replicas agree with each other, the store and a full compile; then asserts it. */
  async settle(at: string): Promise<void> {
    let last = '';
    // After a cut, B's etcd client takes a few seconds to trust the connection again (its circuit breaker).
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      // B's client may still be reconnecting after a cut: then look again a little later.
      const synced = await Promise.all([this.a.store.sync(), this.b.store.sync()]).then(
        () => true,
        () => false,
      );
      await Promise.all([this.a.cache.settled(), this.b.cache.settled()]);
      last = synced ? await this.disagreement() : 'B not reachable yet';
      if (last === '') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(this.a.errors, [], `${at}: no pass of A (never cut off) failed`);
    assert.equal(last, '', `${at}: the replicas settle on one version per content: ${last}`);
  }

  /** '' when both replicas hold, for every node, the full compile's content at the stored version. */
  private async disagreement(): Promise<string> {
    const registry = new Registry('td');
    for (const a of this.a.store.agents()) registry.upsert(a.report, 0);
    const full = new SnapshotCache(registry, new MemoryStore(), () => this.globals.bundle, () => [...this.a.store.resources().values()], undefined, () => this.globals.tracing);
    await full.recompile();
    const ids = (c: SnapshotCache): string => c.all().map((x) => x.nodeId).sort().join(',');
    if (ids(this.a.cache) !== ids(full) || ids(this.b.cache) !== ids(full)) return `nodes: full ${ids(full)} / A ${ids(this.a.cache)} / B ${ids(this.b.cache)}`;
    for (const f of full.all()) {
      const stored = this.a.store.snapshotVersions().get(f.nodeId);
      const [x, y] = [this.a.cache.get(f.nodeId), this.b.cache.get(f.nodeId)];
      const show = (c: { version: number; hash: string } | undefined): string => (c === undefined ? 'none' : `v${c.version} ${c.hash.slice(0, 8)}`);
      if (x?.hash !== f.hash || y?.hash !== f.hash || stored?.hash !== f.hash || x.version !== stored.version || y.version !== stored.version) {
        return `${f.nodeId}: full ${f.hash.slice(0, 8)}, stored ${show(stored)}, A ${show(x)}, B ${show(y)}`;
      }
    }
    return '';
  }

  /** A node's version on A, on B and in the store. */
  versions(nodeId: string): { a?: number; b?: number; stored?: number } {
    return { a: this.a.cache.get(nodeId)?.version, b: this.b.cache.get(nodeId)?.version, stored: this.a.store.snapshotVersions().get(nodeId)?.version };
  }

  async close(): Promise<void> {
    await Promise.all([this.a?.store.close(), this.b?.store.close()]);
  }
}

/**
 * The generator lets two agents report the same nodeId (a misconfiguration); which report a
 * registry takes then depends on the order it heard the agents in, which two replicas need not
 * share. Over etcd each agent's nodes get their own ids.
 */
function distinctNodes(report: AgentReport): AgentReport {
  const r = structuredClone(report);
  for (const w of r.workloads) for (const rep of w.replicas) rep.nodeId = `${report.agentId}~${rep.nodeId}`;
  return r;
}
