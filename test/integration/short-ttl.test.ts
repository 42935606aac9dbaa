/**
 * certificateTTL 1s through the CLI: `trellis up` starts (it used to never start: the first
 * certificate lived ~0.15 s and every rotation was refused), requests keep flowing over mTLS
 * while every proxy rotates several times, `trellis check` passes (the control plane's view
 * of each certificate is current) and its dials are no TLS failures in the proxies' counters.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckReport, ProxyView } from '../../src/api/registry.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { sleep } from '../helpers/proc.js';

describe('certificateTTL 1s', () => {
  const pair = usePairMesh({ name: 'it-short-ttl', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], certificateTTL: '1s' });

  it('serves with zero failed requests across several rotations, and trellis check passes without counting TLS failures', async (t) => {
    const serials = new Map<string, Set<string>>();
    const record = (proxies: ProxyView[]): void => {
      for (const p of proxies) if (p.certSerial !== null) serials.set(p.nodeId, (serials.get(p.nodeId) ?? new Set()).add(p.certSerial));
    };
    const load = loadLoop(httpGetOutcome(`http://127.0.0.1:${pair.outPort}/short-ttl`, pair.agent), { concurrency: 2 });
    const started = Date.now();
    while (Date.now() - started < 60_000) {
      record(await pair.mesh.api<ProxyView[]>('/api/v1/proxies'));
      const all = ['default/a/0', 'default/b/0'].every((n) => (serials.get(n)?.size ?? 0) >= 4);
      if (all && Date.now() - started >= 5_000) break;
      await sleep(100);
    }
    const stats = await load.stop();
    t.diagnostic(`load: ${stats.ok} ok, ${stats.failed} failed; certificates seen: ${[...serials].map(([n, s]) => `${n}=${s.size}`).join(' ')}`);
    for (const n of ['default/a/0', 'default/b/0']) assert.ok((serials.get(n)?.size ?? 0) >= 4, `${n} rotated at least three times`);
    assert.ok(stats.ok > 0);
    assert.equal(stats.failed, 0, `failed requests across rotations:\n${describeFailures(stats)}`);

    const before = await pair.mesh.api<ProxyView[]>('/api/v1/proxies');
    for (let i = 0; i < 3; i++) {
      const r = await pair.mesh.cli(['check', '-o', 'json']);
      const report = JSON.parse(r.stdout) as CheckReport;
      assert.equal(r.code, 0, `trellis check failed: ${JSON.stringify(report.checks.filter((c) => !c.ok))}`);
    }
    // The proxies report their counters with each rotation (about every 0.5 s here).
    await sleep(1500);
    const afterViews = await pair.mesh.api<ProxyView[]>('/api/v1/proxies');
    for (const p of afterViews) {
      const was = before.find((b) => b.nodeId === p.nodeId);
      assert.equal(p.tlsFailures, was?.tlsFailures, `${p.nodeId}: trellis check counted as a TLS failure`);
      assert.equal(p.tlsFailures, 0, `${p.nodeId}: no TLS failure at all`);
    }
  });
});
