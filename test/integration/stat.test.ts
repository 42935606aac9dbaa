/**
 * `trellis stat` and `trellis edges` against a real mesh: known traffic (app a -> a's proxy ->
 * b's proxy -> app b) sent while `trellis stat` waits between its two scrapes, exact counts and
 * success rate in its JSON; `trellis edges` shows a -> b with a's SPIFFE identity.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { EdgeRow } from '../../src/cli/commands/edges.js';
import type { StatRow } from '../../src/cli/commands/stat.js';
import { spiffeId, TRUST_DOMAIN } from '../helpers/meshes.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { startCli } from '../helpers/cli-run.js';

const TOTAL = 30;
const FAILED = 6;

describe('trellis stat and trellis edges', () => {
  const pair = usePairMesh({ name: 'it-stat', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'] });

  it('stat services counts exactly the requests sent during the window', async () => {
    const run = startCli(['stat', 'services', '-o', 'json', '--window', '3s', '--control-plane', pair.mesh.apiUrl], pair.mesh.cliEnv());
    await run.stderrLine(/scraped 2 of 2 proxies/);
    const base = `http://127.0.0.1:${pair.outPort}`;
    for (let i = 0; i < TOTAL; i++) {
      const path = i < FAILED ? '/status/503' : `/ok/${i}`;
      const r = await request(`${base}${path}`, { dispatcher: pair.agent });
      await r.body.text();
      assert.equal(r.statusCode, i < FAILED ? 503 : 200);
    }
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout) as { kind: string; rows: StatRow[] };
    assert.equal(out.kind, 'services');
    const b = out.rows.find((r) => r.namespace === 'default' && r.name === 'b');
    assert.ok(b !== undefined, result.stdout);
    assert.equal(b.requests, TOTAL);
    assert.equal(b.successRate, (TOTAL - FAILED) / TOTAL);
    assert.equal(b.successRate, 0.8);
    assert.ok(b.p50 !== null && b.p99 !== null && b.p50 <= b.p99);
  });

  it('edges shows a -> b with a\'s identity', async () => {
    const r = await pair.mesh.cli(['edges', '-o', 'json', '--control-plane', pair.mesh.apiUrl]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { trustDomain: string; edges: EdgeRow[] };
    assert.equal(out.trustDomain, TRUST_DOMAIN);
    const edge = out.edges.find((e) => e.src === 'default/a' && e.dst === 'default/b');
    assert.ok(edge !== undefined, r.stdout);
    assert.equal(edge.identity, spiffeId('a'));
    // Everything b served since it started: at least the window's 30 (readiness probes are not from a).
    assert.ok(edge.requests >= TOTAL, r.stdout);
  });

  it('an unreachable control plane exits 4', async () => {
    const r = await pair.mesh.cli(['edges', '--control-plane', 'http://127.0.0.1:1']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot reach the control plane/);
  });
});
