/**
 * The dashboard's stats API against a real mesh: known traffic (app a -> a's proxy -> b's two
 * replicas) after the control plane has begun scraping (the first read starts it), then the
 * graph's edge a -> b with a's identity and exactly those counts, a series that adds up to
 * them, 400s naming the parameter, and each replica's identity, certificate and acked config.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { StatsView, SeriesView, WorkloadStatusView } from '../../src/api/stats.js';
import { spiffeId } from '../helpers/meshes.js';
import { usePairMesh } from '../helpers/pair-fixture.js';

const TOTAL = 20;
const FAILED = 5;

/** Calls `read` until `done` holds for its answer (a scrape every 2 s; gives up after 30 s). */
async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (let tries = 0; ; tries++) {
    const v = await read();
    if (done(v)) return v;
    if (tries >= 300) throw new Error(`gave up waiting for ${what}; last answer: ${JSON.stringify(v).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('dashboard stats API', () => {
  const pair = usePairMesh({ name: 'it-dashboard-api', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], serverReplicas: 2 });
  const stats = (): Promise<StatsView> => pair.mesh.api<StatsView>('/api/v1/stats?window=15m');

  it('reports the edge a -> b with the caller identity and exactly the requests sent, and a series adding up to them', async () => {
    const first = await stats();
    assert.equal(first.warmingUp, true, 'the first read starts scraping');
    // A history from before the traffic: the window's start scrape has none of it.
    await until('two scrapes', stats, (v) => !v.warmingUp);

    const base = `http://127.0.0.1:${pair.outPort}`;
    for (let i = 0; i < TOTAL; i++) {
      const r = await request(`${base}${i < FAILED ? '/status/503' : `/ok/${i}`}`, { dispatcher: pair.agent });
      await r.body.text();
      assert.equal(r.statusCode, i < FAILED ? 503 : 200);
    }
    const sentAt = Date.now();

    const edgeAB = (v: StatsView) => v.edges.find((e) => e.source === 'default/a' && e.target === 'default/b');
    const view = await until('a scrape after the traffic', stats, (v) => v.at > sentAt && (edgeAB(v)?.metrics.requests ?? 0) >= TOTAL);
    const edge = edgeAB(view)!;
    assert.equal(edge.identity, spiffeId('a'));
    assert.equal(edge.metrics.requests, TOTAL, JSON.stringify(view.edges));
    assert.equal(edge.metrics.successRate, (TOTAL - FAILED) / TOTAL);
    assert.ok(edge.metrics.p50 !== null && edge.metrics.p99 !== null && edge.metrics.p50 <= edge.metrics.p99);
    const b = view.services.find((s) => s.namespace === 'default' && s.name === 'b');
    assert.equal(b?.requests, TOTAL);
    assert.deepEqual(
      view.nodes.filter((n) => n.id === 'default/a' || n.id === 'default/b').map((n) => [n.id, n.kind, n.metrics?.requests]),
      [
        ['default/a', 'service', 0],
        ['default/b', 'service', TOTAL],
      ],
    );

    const series = await pair.mesh.api<SeriesView>('/api/v1/stats/series?kind=service&namespace=default&name=b&window=15m');
    assert.equal(series.stepSeconds, view.intervalSeconds);
    assert.equal(series.points.reduce((n, p) => n + p.requests, 0), TOTAL);
    assert.equal(series.points.reduce((n, p) => n + (p.successRate === null ? 0 : Math.round(p.successRate * p.requests)), 0), TOTAL - FAILED);
  });

  it('answers a bad parameter with 400 TRELLIS_E_USAGE naming it', async () => {
    for (const [path, name] of [
      ['/api/v1/stats?window=forever', 'window'],
      ['/api/v1/stats/series?kind=pod&namespace=default&name=b', 'kind'],
      ['/api/v1/stats/series?kind=service&namespace=default&name=b&step=soon', 'step'],
    ] as const) {
      const res = await request(`${pair.mesh.apiUrl}${path}`, { headers: pair.mesh.authHeaders() });
      const body = (await res.body.json()) as { error: { code: string; message: string } };
      assert.equal(res.statusCode, 400, path);
      assert.equal(body.error.code, 'TRELLIS_E_USAGE');
      assert.match(body.error.message, new RegExp(`^${name} `), path);
    }
  });

  it('shows each replica with its identity, a future certificate expiry and the compiled config acked', async () => {
    const rows = await until('every proxy to ack its config', () => pair.mesh.api<WorkloadStatusView[]>('/api/v1/workloads/status'), (rs) => rs.length === 3 && rs.every((r) => r.ackedVersion !== null && r.ackedVersion === r.configVersion));
    assert.deepEqual(rows.map((r) => [r.workload, r.replica]).sort(), [['a', 0], ['b', 0], ['b', 1]]);
    for (const r of rows) {
      assert.equal(r.identity, spiffeId(r.workload));
      assert.equal(r.connected, true);
      assert.equal(r.nack, null);
      assert.ok(r.certNotAfter !== null && Date.parse(r.certNotAfter) > Date.now(), r.certNotAfter ?? 'no certificate');
      assert.ok(r.certExpiresInSeconds !== null && r.certExpiresInSeconds > 0);
      const compiled = await pair.mesh.api<{ version: number }>(`/api/v1/proxies/${encodeURIComponent(r.nodeId)}/snapshot`);
      assert.equal(r.ackedVersion, compiled.version, r.nodeId);
    }
  });
});
