import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { PrometheusTargetGroup, ServiceView, WorkloadView } from '../../api/registry.js';
import { HttpError } from '../api/http-error.js';
import { StatsService } from './stats-service.js';
import { requestLabels, startFakeProxy, waitFor, type FakeProxy, type SeriesSpec } from './test-support.js';

const TD = 'example.org';

function workload(name: string): WorkloadView {
  return { namespace: 'default', name, service: name, serviceAccount: name, ports: [], upstreams: [], ingress: false, labels: { app: name, version: 'v1' }, replicas: [], agentId: 'h1', identity: `spiffe://${TD}/ns/default/sa/${name}` };
}

/** b-v1: b's workloads labelled version=v1, declared by selector (a version subset). */
const bV1: ServiceView = { namespace: 'default', name: 'b-v1', identity: `spiffe://${TD}/ns/default/sa/b`, ports: [], endpointsReady: 1, endpointsTotal: 1, selector: { app: 'b', version: 'v1' } };

const group = (p: FakeProxy, name: string): PrometheusTargetGroup => ({ targets: [p.target], labels: { trellis_namespace: 'default', trellis_workload: name } });

/** b served `ok` and `failed` requests from a; a sent the same to b. */
function traffic(ok: number, failed: number): { b: SeriesSpec[]; a: SeriesSpec[] } {
  const inbound = (status: string): SeriesSpec['labels'] => requestLabels('inbound', { src_service_account: 'a', dst_service: 'b', status_code: status });
  const outbound = (status: string): SeriesSpec['labels'] => requestLabels('outbound', { src_workload: 'a', src_service_account: 'a', dst_service: 'b', status_code: status });
  return {
    b: [
      { labels: inbound('200'), count: ok },
      { labels: inbound('503'), count: failed },
    ],
    a: [
      { labels: outbound('200'), count: ok },
      { labels: outbound('503'), count: failed },
    ],
  };
}

/** Until both proxies answered a scrape started after now, and that scrape is stored. */
async function nextScrape(svc: StatsService, proxies: FakeProxy[]): Promise<void> {
  const seen = proxies.map((p) => p.hits);
  await waitFor('a scrape of every proxy', () => proxies.every((p, i) => p.hits > seen[i]!));
  await svc.settled();
}

describe('StatsService', () => {
  const started: { close(): unknown }[] = [];
  after(async () => {
    for (const s of started) await s.close();
  });

  async function setup(clock: () => number, extraTargets: PrometheusTargetGroup[] = [], onScrapeError?: (target: string) => void) {
    const t = traffic(10, 0);
    const a = await startFakeProxy(t.a);
    const b = await startFakeProxy(t.b);
    const svc = new StatsService({
      targets: () => [group(a, 'a'), group(b, 'b'), ...extraTargets],
      workloads: () => [workload('a'), workload('b')],
      services: () => [bV1],
      proxies: () => [],
      trustDomain: TD,
      intervalMs: 10,
      clock,
      onScrapeError,
    });
    started.push(a, b, svc);
    return { a, b, svc };
  }

  it('the first read starts scraping and warms up; then the window holds exactly what was served since', async () => {
    let now = 1_000_000;
    const errors: string[] = [];
    const { a, b, svc } = await setup(() => (now += 10), [{ targets: ['127.0.0.1:1'], labels: {} }], (t) => errors.push(t));
    const first = svc.view('15m');
    assert.equal(first.warmingUp, true);
    assert.deepEqual([first.nodes, first.edges, first.services, first.routes], [[], [], [], []]);
    assert.equal(first.intervalSeconds, 0.01);
    await nextScrape(svc, [a, b]);

    const t = traffic(30, 5);
    a.serve(t.a);
    b.serve(t.b);
    await nextScrape(svc, [a, b]);
    const view = svc.view('15m');
    assert.equal(view.warmingUp, false);
    assert.deepEqual(
      view.edges.map((e) => [e.source, e.target, e.identity, e.metrics.requests, e.metrics.successRate]),
      [['default/a', 'default/b', `spiffe://${TD}/ns/default/sa/a`, 25, 20 / 25]],
    );
    assert.deepEqual(view.services.map((r) => [r.name, r.requests]), [['b', 25]]);
    assert.ok(errors.includes('127.0.0.1:1'), 'the unreachable proxy is reported and left out');

    const series = svc.series(new URLSearchParams('kind=service&namespace=default&name=b&window=15m'));
    assert.equal(series.stepSeconds, 0.01);
    assert.equal(series.points.reduce((n, p) => n + p.requests, 0), 25);

    // The subset b-v1 has no proxy of its own: b's replicas served its requests.
    const subset = view.nodes.find((n) => n.id === 'default/b-v1');
    assert.deepEqual([subset?.subsetOf, subset?.metrics?.requests, subset?.metrics?.successRate], ['default/b', 25, 20 / 25]);
    const subsetSeries = svc.series(new URLSearchParams('kind=service&namespace=default&name=b-v1&window=15m'));
    assert.equal(subsetSeries.points.reduce((n, p) => n + p.requests, 0), 25);
    assert.deepEqual(svc.series(new URLSearchParams('kind=service&namespace=default&name=b-v2&window=15m')).points, [], 'an unknown service has no points');
  });

  it('stops scraping a minute after the last read, and starts afresh on the next', async () => {
    let now = 5_000_000;
    const { a, b, svc } = await setup(() => now);
    assert.deepEqual(svc.workloadStatus(), []);
    assert.equal(svc.scraping, true);
    await nextScrape(svc, [a, b]);
    await nextScrape(svc, [a, b]);
    assert.equal(svc.view(null).warmingUp, false);

    now += 60_000;
    await waitFor('the scraper to stop', () => !svc.scraping);
    await svc.settled();
    const hits = a.hits;
    // Several intervals without a read: no request reaches the proxy.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.hits, hits);

    // Watched again: a new history (a window never spans the pause).
    assert.equal(svc.view(null).warmingUp, true);
    assert.equal(svc.scraping, true);
    svc.close();
    assert.equal(svc.scraping, false);
    svc.view(null);
    assert.equal(svc.scraping, false, 'closed for good');
  });

  it('a bad parameter is a 400 and starts nothing', async () => {
    const { svc } = await setup(() => 0);
    assert.throws(() => svc.view('forever'), (e: unknown) => e instanceof HttpError && e.status === 400 && /window/.test(e.message));
    assert.throws(() => svc.series(new URLSearchParams('kind=service')), (e: unknown) => e instanceof HttpError && e.status === 400 && /name/.test(e.message));
    assert.equal(svc.scraping, false);
  });
});
