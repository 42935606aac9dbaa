import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beginHop, extract } from '../../../telemetry/tracing/index.js';
import type { Hop } from '../../../telemetry/tracing/index.js';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import { INBOUND, RecordingHandler, RecordingService, exchange, pairs } from '../../testing/stage-harness.js';
import type { SpanSite, TracedExchange, Tracer } from '../../tracing/tracer.js';
import { TraceStage } from './trace.js';
import type { TraceConfig } from './trace.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
const OUR_SPAN = '00f067aa0ba902b7';

interface Exported {
  site: SpanSite;
  r: TracedExchange;
  serverAddress: string;
  peer: string | undefined;
}

/** The parts of the Tracer the stage uses, with a fixed span id and sampling decision. */
function fakeTracer(enabled: boolean, sample: boolean): { tracer: Tracer; exported: Exported[]; begun: number } {
  const state = { exported: [] as Exported[], begun: 0 };
  const tracer = {
    enabled,
    begin(headers: readonly string[]): Hop {
      state.begun++;
      return beginHop(extract(headers), { shouldSample: () => sample }, { traceId: () => TRACE, spanId: () => OUR_SPAN });
    },
    exportExchange(site: SpanSite, r: TracedExchange, serverAddress: string, peer: string | undefined): void {
      state.exported.push({ site, r, serverAddress, peer });
    },
  };
  return {
    tracer: tracer as unknown as Tracer,
    exported: state.exported,
    get begun() {
      return state.begun;
    },
  };
}

function setup(enabled: boolean, sample: boolean, config: Partial<TraceConfig> = {}, over: Partial<ExchangeInit> = {}) {
  const t = fakeTracer(enabled, sample);
  const next = new RecordingService();
  const stage = new TraceStage({ tracer: t.tracer, direction: 'outbound', cluster: 'default/svc:http', service: 'self', ...config }, next);
  const ex = exchange(over);
  stage.call(ex, new RecordingHandler());
  return { t, next, stage, ex };
}

test('tracing off: no hop, no edits, nothing exported', () => {
  const s = setup(false, true, {}, { headers: ['host', 'svc', 'traceparent', `00-${TRACE}-${CALLER_SPAN}-01`] });
  assert.equal(s.t.begun, 0);
  assert.equal(s.ex.hop, null);
  assert.equal(s.ex.requestEdits, null, 'trace headers pass untouched');
  assert.equal(s.next.calls.length, 1);
  s.stage.finish(s.ex);
  assert.equal(s.t.exported.length, 0);
});

test('tracing on: the hop continues the caller\'s trace; its headers replace the caller\'s through edits', () => {
  const s = setup(true, true, {}, {
    headers: ['host', 'svc', 'traceparent', `00-${TRACE}-${CALLER_SPAN}-01`, 'x-b3-traceid', TRACE, 'x-b3-spanid', CALLER_SPAN, 'x-b3-sampled', '1', 'accept', '*/*'],
  });
  assert.equal(s.t.begun, 1);
  assert.equal(s.ex.hop?.traceId, TRACE);
  assert.equal(s.ex.hop?.parentSpanId, CALLER_SPAN);
  assert.equal(s.ex.spanId, OUR_SPAN);
  const e = s.ex.requestEdits!;
  for (const n of ['traceparent', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled']) assert.equal(e.drops(n), true, n);
  assert.equal(e.drops('accept'), false);
  const set = new Map(pairs(e.set));
  assert.equal(set.get('traceparent'), `00-${TRACE}-${OUR_SPAN}-01`);
  assert.equal(set.get('x-b3-spanid'), OUR_SPAN);
  assert.equal(set.get('x-b3-parentspanid'), CALLER_SPAN);
  assert.equal(s.next.calls.length, 1);
});

test('tracing on, no incoming trace: a new trace starts and its traceparent is set', () => {
  const s = setup(true, false);
  assert.equal(s.ex.hop?.traceId, TRACE);
  assert.equal(s.ex.hop?.parentSpanId, undefined);
  assert.equal(new Map(pairs(s.ex.requestEdits!.set)).get('traceparent'), `00-${TRACE}-${OUR_SPAN}-00`);
});

test('finish exports the span of a sampled exchange, outbound: to the routed backend\'s service and the upstream peer', () => {
  const s = setup(true, true, {}, { protocol: 'http2' });
  s.ex.backend = 'default/catalog:grpc';
  s.ex.upstreamPeer = 'spiffe://test.local/ns/default/sa/catalog';
  s.ex.status = 200;
  s.stage.finish(s.ex);
  assert.equal(s.t.exported.length, 1);
  const x = s.t.exported[0]!;
  assert.deepEqual(x.site, { kind: 'client', protocol: '2' });
  assert.equal(x.r, s.ex);
  assert.equal(x.serverAddress, 'catalog');
  assert.equal(x.peer, 'spiffe://test.local/ns/default/sa/catalog');
});

test('finish outbound without a routed backend names the listener\'s service', () => {
  const s = setup(true, true);
  s.stage.finish(s.ex);
  assert.equal(s.t.exported[0]!.serverAddress, 'svc');
  assert.deepEqual(s.t.exported[0]!.site, { kind: 'client', protocol: '1.1' });
});

test('finish inbound: a server span for this proxy\'s service and the caller\'s identity', () => {
  const peer = 'spiffe://test.local/ns/default/sa/caller';
  const s = setup(true, true, { direction: 'inbound', cluster: '' }, { site: INBOUND, peer });
  s.stage.finish(s.ex);
  const x = s.t.exported[0]!;
  assert.deepEqual(x.site, { kind: 'server', protocol: '1.1' });
  assert.equal(x.serverAddress, 'self');
  assert.equal(x.peer, peer);
});

test('an unsampled exchange exports nothing', () => {
  const s = setup(true, false);
  assert.ok(s.ex.hop !== null, 'still propagated');
  s.stage.finish(s.ex);
  assert.equal(s.t.exported.length, 0);
});
