import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TapEvent, TapMessage } from '../../api/tap.js';
import type { ExchangeRecord } from '../pipeline/record.js';
import { tapEventOf, tapSite, type TapNode } from './tap-event.js';
import { TapHub } from './tap-hub.js';

const NODE: TapNode = { nodeId: 'default/b/0', namespace: 'default', workload: 'b', service: 'b', identity: 'spiffe://td/ns/default/sa/b' };
const INBOUND = tapSite(NODE, 'inbound', 'http', '');
const OUTBOUND = tapSite(NODE, 'outbound', 'http', 'default/c:http');

function record(over: Partial<ExchangeRecord> = {}): ExchangeRecord {
  return {
    method: 'GET',
    target: '/a?q=1',
    host: 'b',
    status: 200,
    reason: undefined,
    upstreamPeer: '127.0.0.1:9000',
    requestBodyBytes: 3,
    responseBodyBytes: 5,
    durationMs: 1.5,
    upstreamMs: 1,
    upgraded: false,
    startedAt: 1_700_000_000_000,
    grpcStatus: undefined,
    route: undefined,
    backend: undefined,
    retries: 0,
    ...over,
  };
}

/** A sink that records lines and can pretend the socket is full. */
function sink(full = false) {
  const lines: TapMessage[] = [];
  let ended = false;
  return {
    lines,
    get ended() {
      return ended;
    },
    full,
    write(line: string): boolean {
      assert.ok(line.endsWith('\n'));
      lines.push(JSON.parse(line) as TapMessage);
      return !this.full;
    },
    end() {
      ended = true;
    },
  };
}

const events = (lines: TapMessage[]): TapEvent[] => lines.flatMap((m) => (m.kind === 'request' ? [m.event] : []));

describe('TapHub', () => {
  it('is active only while someone subscribes', () => {
    const hub = new TapHub({ nodeId: NODE.nodeId });
    assert.equal(hub.active, false);
    const a = hub.subscribe({}, sink());
    const b = hub.subscribe({}, sink());
    assert.equal(hub.active, true);
    a.close();
    assert.equal(hub.active, true);
    b.close();
    assert.equal(hub.active, false);
    assert.equal(hub.subscriberCount, 0);
  });

  it('sends each subscriber only what its filter matches', () => {
    const hub = new TapHub({ nodeId: NODE.nodeId });
    const all = sink();
    const posts = sink();
    const failures = sink();
    hub.subscribe({}, all);
    hub.subscribe({ method: 'POST' }, posts);
    hub.subscribe({ status: '5xx', direction: 'inbound' }, failures);
    hub.publish(INBOUND, record(), undefined);
    hub.publish(INBOUND, record({ method: 'POST', target: '/c' }), undefined);
    hub.publish(INBOUND, record({ status: 503 }), undefined);
    hub.publish(OUTBOUND, record({ status: 502 }), undefined);
    assert.equal(events(all.lines).length, 4);
    assert.deepEqual(events(posts.lines).map((e) => e.path), ['/c']);
    assert.deepEqual(events(failures.lines).map((e) => [e.direction, e.status]), [['inbound', 503]]);
  });

  it('a gRPC call that failed in a 200 matches status=failed and its grpcStatus, and its event carries it', () => {
    const hub = new TapHub({ nodeId: NODE.nodeId });
    const failed = sink();
    const unavailable = sink();
    const fiveXx = sink();
    hub.subscribe({ status: 'failed' }, failed);
    hub.subscribe({ grpcStatus: 14 }, unavailable);
    hub.subscribe({ status: '5xx' }, fiveXx);
    const grpc = (grpcStatus: number): ExchangeRecord => record({ method: 'POST', target: '/pkg.Svc/Call', status: 200, upstreamPeer: undefined, requestBodyBytes: 1, responseBodyBytes: 2, durationMs: 3, startedAt: 4, grpcStatus });
    hub.publish(INBOUND, grpc(14), undefined);
    hub.publish(INBOUND, grpc(0), undefined);
    hub.publish(INBOUND, grpc(4), undefined);
    hub.publish(INBOUND, record({ status: 502 }), undefined);
    hub.publish(INBOUND, record(), undefined);
    assert.deepEqual(events(failed.lines).map((e) => [e.status, e.grpcStatus]), [[200, 14], [200, 4], [502, undefined]]);
    assert.deepEqual(events(unavailable.lines).map((e) => [e.status, e.grpcStatus]), [[200, 14]]);
    assert.deepEqual(events(fiveXx.lines).map((e) => e.status), [502]);
  });

  it('ends the subscription after max requests', () => {
    const hub = new TapHub({ nodeId: NODE.nodeId });
    const s = sink();
    hub.subscribe({ max: 2 }, s);
    for (let i = 0; i < 5; i++) hub.publish(INBOUND, record({ target: `/${i}` }), undefined);
    assert.deepEqual(events(s.lines).map((e) => e.path), ['/0', '/1']);
    assert.equal(s.ended, true);
    assert.equal(hub.active, false);
  });

  it('caps each subscriber per second and reports what it dropped', () => {
    let now = 0;
    const hub = new TapHub({ nodeId: NODE.nodeId, ratePerSecond: 3, now: () => now });
    const s = sink();
    hub.subscribe({}, s);
    for (let i = 0; i < 5; i++) hub.publish(INBOUND, record(), undefined);
    assert.equal(events(s.lines).length, 3);
    hub.reportDrops();
    assert.deepEqual(s.lines.at(-1), { kind: 'dropped', proxy: NODE.nodeId, count: 2 });
    hub.reportDrops(); // nothing new dropped: no line
    assert.equal(s.lines.length, 4);
    now = 1000; // a second later the bucket is full again
    for (let i = 0; i < 4; i++) hub.publish(INBOUND, record(), undefined);
    assert.equal(events(s.lines).length, 6);
    now = 1334; // a third of a second: one more token
    hub.publish(INBOUND, record(), undefined);
    hub.publish(INBOUND, record(), undefined);
    assert.equal(events(s.lines).length, 7);
    hub.reportDrops();
    assert.deepEqual(s.lines.at(-1), { kind: 'dropped', proxy: NODE.nodeId, count: 2 });
  });

  it('drops while the sink is not drained, and counts it', () => {
    const hub = new TapHub({ nodeId: NODE.nodeId });
    const s = sink(true);
    const sub = hub.subscribe({}, s);
    hub.publish(INBOUND, record(), undefined); // written, but the socket is now full
    hub.publish(INBOUND, record(), undefined);
    hub.publish(INBOUND, record(), undefined);
    hub.reportDrops(); // cannot report while blocked either
    assert.equal(s.lines.length, 1);
    s.full = false;
    sub.resume();
    hub.reportDrops();
    hub.publish(INBOUND, record(), undefined);
    assert.deepEqual(
      s.lines.map((m) => m.kind),
      ['request', 'dropped', 'request'],
    );
    assert.deepEqual(s.lines[1], { kind: 'dropped', proxy: NODE.nodeId, count: 2 });
  });

  it('close() ends every sink', () => {
    const hub = new TapHub({ nodeId: NODE.nodeId });
    const a = sink();
    hub.subscribe({}, a);
    hub.close();
    assert.equal(a.ended, true);
    assert.equal(hub.active, false);
  });
});

describe('tapEventOf', () => {
  it('inbound: the caller is the source, this proxy the destination, the app the endpoint', () => {
    const e = tapEventOf(INBOUND, record({ sampled: true, traceId: 'ab'.repeat(16), retries: 0 }), 'spiffe://td/ns/default/sa/a');
    assert.deepEqual(e, {
      startedAt: 1_700_000_000_000,
      durationMs: 1.5,
      direction: 'inbound',
      protocol: 'http',
      proxy: { nodeId: 'default/b/0', namespace: 'default', workload: 'b' },
      src: { identity: 'spiffe://td/ns/default/sa/a' },
      dst: { service: 'default/b', endpoint: '127.0.0.1:9000', identity: NODE.identity },
      method: 'GET',
      authority: 'b',
      path: '/a?q=1',
      status: 200,
      bytesIn: 3,
      bytesOut: 5,
      traceId: 'ab'.repeat(16),
    });
  });

  it('outbound: this proxy is the source; the routed backend, when a route chose one, the destination', () => {
    const plain = tapEventOf(OUTBOUND, record({ upstreamPeer: 'spiffe://td/ns/default/sa/c', backend: 'default/c:http' }), undefined);
    assert.deepEqual([plain.src, plain.dst], [{ identity: NODE.identity }, { service: 'default/c', identity: 'spiffe://td/ns/default/sa/c' }]);
    const routed = tapEventOf(OUTBOUND, record({ backend: 'default/c-canary:http', route: 'default/split', retries: 2, reason: 'upstream_timeout' as ExchangeRecord['reason'] }), undefined);
    assert.equal(routed.dst.service, 'default/c-canary');
    assert.deepEqual([routed.route, routed.retries, routed.reason], ['default/split', 2, 'upstream_timeout']);
    const unsampled = tapEventOf(OUTBOUND, record({ traceId: 'cd'.repeat(16), sampled: false }), undefined);
    assert.equal(unsampled.traceId, undefined);
  });

  it('carries the policy decisions of inbound requests', () => {
    const e = tapEventOf(INBOUND, { ...record({ status: 403 }), policy: 'shop/no-admin', auditPolicy: 'shop/watch', rateLimit: 'shop/orders' }, undefined);
    assert.deepEqual([e.policy, e.audit, e.rateLimit], ['shop/no-admin', 'shop/watch', 'shop/orders']);
    const none = tapEventOf(INBOUND, record({}), undefined);
    assert.equal('policy' in none || 'audit' in none || 'rateLimit' in none, false);
  });

  it('carries the grpc-status of HTTP/2 streams', () => {
    const site = tapSite(NODE, 'inbound', 'http2', '');
    const r: ExchangeRecord = {
      method: 'POST', target: '/pkg.Svc/Call', host: undefined, status: 200, reason: undefined, upstreamPeer: undefined, requestBodyBytes: 1,
      responseBodyBytes: 2, durationMs: 3, upstreamMs: undefined, upgraded: false, startedAt: 4, grpcStatus: 14, route: undefined, backend: undefined, retries: 0,
    };
    const e = tapEventOf(site, r, undefined);
    assert.deepEqual([e.protocol, e.grpcStatus, e.src, e.dst], ['http2', 14, {}, { service: 'default/b', identity: NODE.identity }]);
  });
});
