/**
 * `node dist/bench/push-scale/compile-pass.js [--proxies N] [--endpoints M]`: the compile pass
 * alone, in process (no sockets): the push-scale mesh in a Registry and a SnapshotCache over a
 * memory store, then endpoint changes to the service everyone calls and to others, each timed
 * (registry upsert, pass, encoding the changed proxies' push messages) with the pass's stats.
 * Run with `node --cpu-prof` to see where a pass goes.
 */
import { MemoryStore } from '../../src/control/store/memory-store.js';
import { SnapshotCache } from '../../src/control/compiler/snapshot-cache.js';
import { snapshotMessage } from '../../src/control/push/snapshot-message.js';
import { Registry } from '../../src/control/registry/registry.js';
import { Topology } from './topology.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i === -1 ? def : Number(process.argv[i + 1]);
};
const proxies = arg('--proxies', 1000);
const topo = new Topology({ proxies, endpoints: arg('--endpoints', proxies * 10), replicas: 10, upstreams: 3, upstreamPorts: 2, workloadsPerHost: 2, seed: 1 }, 'bench.local');
const registry = new Registry('bench.local');
for (const h of topo.hosts) registry.upsert(topo.report(h, 15_000), 0);
const cache = new SnapshotCache(registry, new MemoryStore(), () => ['ROOT']);
let t = performance.now();
await cache.recompile();
console.log(`first pass: ${(performance.now() - t).toFixed(1)} ms`, cache.lastPass);
const targets = ['svc-000', 'svc-000', 'svc-000', topo.services[42 % topo.services.length]?.name ?? 'svc-000', topo.services[17 % topo.services.length]?.name ?? 'svc-000'];
for (const [i, svc] of targets.entries()) {
  const host = topo.flip(svc, i);
  t = performance.now();
  registry.upsert(topo.report(host, 15_000), 1);
  const t1 = performance.now();
  const changed = await cache.recompile();
  const t2 = performance.now();
  let bytes = 0;
  for (const id of changed) {
    const c = cache.get(id);
    if (c !== undefined) bytes += snapshotMessage(c).length;
  }
  const t3 = performance.now();
  console.log(`${svc}: upsert ${(t1 - t).toFixed(1)} ms, pass ${(t2 - t1).toFixed(1)} ms, encode ${(t3 - t2).toFixed(1)} ms; ${changed.length} proxies changed, ${bytes} bytes to push`, cache.lastPass);
}
