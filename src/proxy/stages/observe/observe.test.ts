import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessLog, AccessRecord } from '../../../telemetry/access-log.js';
import type { ProxyMetrics } from '../../../telemetry/metrics.js';
import type { Destination, Peer } from '../../../telemetry/request-metrics.js';
import type { ExchangeRecord } from '../../pipeline/record.js';
import type { TapSite } from '../../tap/tap-event.js';
import type { TapHub } from '../../tap/tap-hub.js';
import { INBOUND, OUTBOUND, RecordingHandler, RecordingService, exchange } from '../../testing/stage-harness.js';
import type { NodeLabels } from '../context.js';
import { ObserveStage } from './observe.js';
import type { ObserveConfig } from './observe.js';

const NODE: NodeLabels = {
  nodeId: 'default/web/0',
  identity: 'spiffe://test.local/ns/default/sa/web',
  namespace: 'default',
  workload: 'web',
  service: 'web',
  serviceAccount: 'web',
};

interface Recorder {
  direction: string;
  src: Peer;
  dst: Destination;
  records: ExchangeRecord[];
}

function fakes(accessLogOn: boolean) {
  const recorders: Recorder[] = [];
  const metrics = {
    requestRecorder(direction: string, src: Peer, dst: Destination) {
      const r: Recorder = { direction, src, dst, records: [] };
      recorders.push(r);
      return { record: (x: ExchangeRecord) => r.records.push(x) };
    },
  } as unknown as ProxyMetrics;
  const published: { site: TapSite; r: ExchangeRecord; peer: string | undefined }[] = [];
  const tap = { active: false, publish: (site: TapSite, r: ExchangeRecord, peer: string | undefined) => published.push({ site, r, peer }) };
  const lines: AccessRecord[] = [];
  const accessLog = { enabled: accessLogOn, write: (r: AccessRecord) => lines.push(r), close: () => Promise.resolve() } as unknown as AccessLog;
  return { recorders, metrics, published, tap, lines, accessLog };
}

function setup(direction: 'inbound' | 'outbound', accessLogOn = false) {
  const f = fakes(accessLogOn);
  const config: ObserveConfig = {
    node: NODE,
    direction,
    listener: direction === 'outbound' ? 'out' : 'in',
    cluster: direction === 'outbound' ? 'shop/catalog:http' : '',
    metrics: f.metrics,
    accessLog: f.accessLog,
    tap: f.tap as unknown as TapHub,
  };
  const next = new RecordingService();
  return { ...f, next, stage: new ObserveStage(config, next) };
}

test('call passes the exchange on and records nothing; finish records it once', () => {
  const s = setup('outbound');
  const ex = exchange();
  const h = new RecordingHandler();
  s.stage.call(ex, h);
  assert.equal(s.next.last.ex, ex);
  assert.equal(s.next.last.handler, h);
  assert.equal(s.recorders.length, 1, 'the outbound recorder is bound once, up front');
  assert.equal(s.recorders[0]!.records.length, 0);
  ex.status = 200;
  s.stage.finish(ex);
  assert.deepEqual(s.recorders[0]!.records, [ex]);
});

test('outbound labels: from this workload, to the listener\'s cluster service; one recorder for every exchange', () => {
  const s = setup('outbound');
  for (let i = 0; i < 3; i++) s.stage.finish(exchange({ site: OUTBOUND }));
  assert.equal(s.recorders.length, 1);
  const r = s.recorders[0]!;
  assert.equal(r.direction, 'outbound');
  assert.deepEqual(r.src, { namespace: 'default', workload: 'web', serviceAccount: 'web' });
  assert.deepEqual(r.dst, { namespace: 'shop', service: 'catalog' });
  assert.equal(r.records.length, 3);
});

test('inbound: one recorder per calling identity, labelled from its SPIFFE ID; an unknown caller gets empty labels', () => {
  const s = setup('inbound');
  const alice = 'spiffe://test.local/ns/team-a/sa/alice';
  const bob = 'spiffe://test.local/ns/team-b/sa/bob';
  s.stage.finish(exchange({ site: INBOUND, peer: alice }));
  s.stage.finish(exchange({ site: INBOUND, peer: alice }));
  s.stage.finish(exchange({ site: INBOUND, peer: bob }));
  s.stage.finish(exchange({ site: INBOUND, peer: null }));
  assert.equal(s.recorders.length, 3);
  const [a, b, none] = s.recorders;
  assert.deepEqual(a!.src, { namespace: 'team-a', workload: '', serviceAccount: 'alice' });
  assert.equal(a!.records.length, 2);
  assert.deepEqual(b!.src, { namespace: 'team-b', workload: '', serviceAccount: 'bob' });
  assert.equal(b!.records.length, 1);
  assert.deepEqual(none!.src, { namespace: '', workload: '', serviceAccount: '' });
  for (const r of s.recorders) assert.deepEqual(r.dst, { namespace: 'default', service: 'web' });
});

test('tap: published only while somebody taps, with the site of the exchange\'s protocol', () => {
  const s = setup('outbound');
  s.stage.finish(exchange());
  assert.equal(s.published.length, 0);
  s.tap.active = true;
  const h2 = exchange({ protocol: 'http2' });
  s.stage.finish(h2);
  assert.equal(s.published.length, 1);
  assert.equal(s.published[0]!.r, h2);
  assert.equal(s.published[0]!.site.protocol, 'http2');
  assert.equal(s.published[0]!.site.cluster, 'shop/catalog:http');
  assert.equal(s.published[0]!.peer, undefined);
  s.tap.active = false;
  s.stage.finish(exchange());
  assert.equal(s.published.length, 1);
});

test('access log off: nothing written', () => {
  const s = setup('outbound', false);
  s.stage.finish(exchange());
  assert.equal(s.lines.length, 0);
});

test('access log on: one line per exchange with what happened', () => {
  const s = setup('inbound', true);
  const peer = 'spiffe://test.local/ns/default/sa/caller';
  const ex = exchange({ site: INBOUND, peer, method: 'POST', target: '/orders?id=1', protocol: 'http2' });
  ex.status = 503;
  ex.reason = 'app-unavailable';
  ex.upstreamPeer = '127.0.0.1:8080';
  ex.responseBodyBytes = 12;
  ex.durationMs = 7;
  s.stage.finish(ex);
  assert.equal(s.lines.length, 1);
  assert.deepEqual(s.lines[0], {
    direction: 'inbound',
    listener: 'in',
    protocol: 'http2',
    method: 'POST',
    target: '/orders?id=1',
    status: 503,
    reason: 'app-unavailable',
    peerIdentity: peer,
    upstream: '127.0.0.1:8080',
    bytesIn: 0,
    bytesOut: 12,
    durationMs: 7,
    startedAt: ex.startedAt,
    traceId: undefined,
    spanId: undefined,
    policy: undefined,
    audit: undefined,
    rateLimit: undefined,
  });
});

test('access log on: the policy decisions of an inbound exchange', () => {
  const s = setup('inbound', true);
  const ex = exchange({ site: INBOUND, peer: 'spiffe://test.local/ns/default/sa/caller' });
  const decision = (label: string): NonNullable<typeof ex.authz> => ({ allowed: true, source: 'policy', action: 'ALLOW', policy: label, rule: 0, label, reason: '', counter: { inc: () => {} } });
  ex.authz = decision('shop/readers');
  ex.audit = decision('shop/watch');
  ex.rateLimit = 'shop/orders';
  s.stage.finish(ex);
  const line = s.lines[0];
  assert.deepEqual([line?.policy, line?.audit, line?.rateLimit], ['shop/readers', 'shop/watch', 'shop/orders']);
});
