/**
 * Certificate rotation under load: certificateTTL 4s (rotated at about half), a load loop through
 * a -> b for at least 12 s and until every proxy's certificate serial changed at least twice,
 * with zero failed requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyView } from '../../src/api/registry.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { sleep } from '../helpers/proc.js';

describe('certificate rotation', () => {
  const pair = usePairMesh({ name: 'it-rotation', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], certificateTTL: '4s' });

  it('every proxy rotates at least twice under load with zero failed requests', async (t) => {
    const serials = new Map<string, string[]>();
    const record = (proxies: ProxyView[]): void => {
      for (const p of proxies) {
        if (p.certSerial === null) continue;
        const seen = serials.get(p.nodeId) ?? [];
        if (seen[seen.length - 1] !== p.certSerial) seen.push(p.certSerial);
        serials.set(p.nodeId, seen);
      }
    };
    record(await pair.mesh.api<ProxyView[]>('/api/v1/proxies'));
    const nodes = [...serials.keys()];
    assert.ok(nodes.includes('default/a/0') && nodes.includes('default/b/0'), `proxies with a certificate: ${nodes.join(', ')}`);

    const load = loadLoop(httpGetOutcome(`http://127.0.0.1:${pair.outPort}/rotate`, pair.agent), { concurrency: 4 });
    const started = Date.now();
    // At least 12 s of load (>= 2 rotations at TTL/2), and until every proxy showed 3 serials;
    // bounded at 60 s. Polls the REST API (cheap) and once in a while the CLI.
    let polls = 0;
    while (Date.now() - started < 60_000) {
      const viaCli = polls % 10 === 0;
      record(viaCli ? await pair.mesh.getJson<ProxyView[]>('proxies') : await pair.mesh.api<ProxyView[]>('/api/v1/proxies'));
      polls += 1;
      const allRotatedTwice = nodes.every((n) => (serials.get(n)?.length ?? 0) >= 3);
      if (allRotatedTwice && Date.now() - started >= 12_000) break;
      await sleep(250);
    }
    const stats = await load.stop();
    t.diagnostic(`load: ${stats.ok} ok, ${stats.failed} failed over ${Date.now() - started} ms; serials seen: ${[...serials].map(([n, v]) => `${n}=${v.length}`).join(' ')}`);

    for (const n of nodes) {
      const seen = serials.get(n) ?? [];
      assert.ok(seen.length >= 3, `${n}: certificate serials seen ${JSON.stringify(seen)}; expected at least two changes`);
    }
    assert.ok(stats.ok > 0, 'the load loop made requests');
    assert.equal(stats.failed, 0, `failed requests across rotations (${stats.ok} ok):\n${describeFailures(stats)}`);
  });
});
