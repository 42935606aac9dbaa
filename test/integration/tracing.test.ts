/**
 * Tracing through real proxies, three app hops: caller -> ingress -> a -> b -> c. The apps
 * (trace-relay.mjs) forward the trace headers they receive, as instrumented apps do; every
 * proxy on the way records a span (client span outbound, server span inbound) and exports it to
 * the control plane, the default collector. Checked: one trace id end to end, each span's
 * parent is the span before it, W3C-only and B3-only callers both continued, and the access
 * log carries the trace id.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startMesh, type Mesh } from '../helpers/mesh.js';
import { TRUST_DOMAIN } from '../helpers/meshes.js';
import { waitFor } from '../helpers/proc.js';

interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  service: string;
  name: string;
  kind: string;
  attributes: Record<string, unknown>;
}

interface Hop {
  workload: string;
  received: Record<string, string>;
  next: Hop | { headers: Record<string, string> };
}

const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: it-tracing
spec:
  trustDomain: ${TRUST_DOMAIN}
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  accessLog: file
  tracing: { sampling: 1 }
  ingress:
    - { name: edge, listen: 127.0.0.1:0, service: a, port: http }
  workloads:
    - name: a
      command: [node, trace-relay.mjs]
      ports: [{ name: http, protocol: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
      upstreams: [{ service: b, port: http, env: NEXT_ADDR }]
    - name: b
      command: [node, trace-relay.mjs]
      ports: [{ name: http, protocol: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
      upstreams: [{ service: c, port: http, env: NEXT_ADDR }]
    - name: c
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
`;

const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');

describe('tracing across three hops', () => {
  let mesh: Mesh | undefined;

  before(async () => {
    mesh = await startMesh({ meshYaml: MESH });
  });
  after(async () => {
    await mesh?.stop();
  });

  const call = async (headers: Record<string, string>): Promise<Hop> => {
    const res = await request(`${mesh!.ingress['edge']}/chain`, { headers, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const body = await res.body.text();
    assert.equal(res.statusCode, 200, body);
    return JSON.parse(body) as Hop;
  };

  /** The spans the control plane collected for a trace, once there are `n` of them. */
  const spansOf = (traceId: string, n: number): Promise<SpanView[]> =>
    waitFor(`${n} spans of trace ${traceId} at the control plane`, async () => {
      const t = await mesh!.api<{ spans: SpanView[] }>(`/api/v1/traces/${traceId}`).catch(() => undefined);
      return t !== undefined && t.spans.length >= n ? t.spans : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });

  /** Orders spans from the root along parent links; asserts it is one unbroken chain. */
  const chain = (spans: SpanView[], rootParent: string | undefined): SpanView[] => {
    const out: SpanView[] = [];
    let parent = rootParent;
    for (let i = 0; i < spans.length; i++) {
      const next = spans.find((s) => (s.parentSpanId || undefined) === parent);
      assert.ok(next !== undefined, `no span whose parent is ${String(parent)} in ${JSON.stringify(spans.map((s) => [s.name, s.spanId, s.parentSpanId]))}`);
      out.push(next);
      parent = next.spanId;
    }
    return out;
  };

  it('a W3C caller: one trace id end to end, six spans chained parent to child', async () => {
    const traceId = hex(32);
    const callerSpan = hex(16);
    const hop = await call({ traceparent: `00-${traceId}-${callerSpan}-01` });
    const c = ((hop.next as Hop).next as { headers: Record<string, string> }).headers;
    assert.match(c.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'c received the same trace');
    // Six proxy hops: ingress (client), a inbound (server), a outbound (client), b in, b out, c in.
    const spans = chain(await spansOf(traceId, 6), callerSpan);
    assert.deepEqual(spans.map((s) => s.kind), ['client', 'server', 'client', 'server', 'client', 'server']);
    // Server spans come from a, b and c's inbound proxies; the client spans after them from a's and b's outbound ones.
    assert.deepEqual([1, 2, 3, 4, 5].map((i) => spans[i]!.service), ['a', 'a', 'b', 'b', 'c']);
    assert.equal(c.traceparent?.split('-')[2], spans[5]!.spanId, "c's parent is the last proxy's span");
    for (const s of spans) assert.equal(s.attributes['http.request.method'], 'GET');
  });

  it('a B3-only caller is continued, and B3 headers travel on beside traceparent', async () => {
    const traceId = hex(32);
    const hop = await call({ 'x-b3-traceid': traceId, 'x-b3-spanid': hex(16), 'x-b3-sampled': '1' });
    const c = ((hop.next as Hop).next as { headers: Record<string, string> }).headers;
    assert.equal(c['x-b3-traceid'], traceId);
    assert.match(c.traceparent ?? '', new RegExp(`^00-${traceId}-`));
    await spansOf(traceId, 6);
  });

  it('a caller without context gets a trace started at the first proxy, logged with its id', async () => {
    const hop = await call({});
    const c = ((hop.next as Hop).next as { headers: Record<string, string> }).headers;
    const traceId = /^00-([0-9a-f]{32})-/.exec(c.traceparent ?? '')?.[1];
    assert.ok(traceId !== undefined, `c got no traceparent: ${JSON.stringify(c)}`);
    await spansOf(traceId, 6);
    const line = await waitFor('an access-log line of a-0 with the trace id', async () => {
      const text = await readFile(join(mesh!.stateDir, 'logs', 'a-0.access.log'), 'utf8').catch(() => '');
      return text.split('\n').find((l) => l.includes(traceId));
    });
    assert.equal((JSON.parse(line) as { traceId?: string }).traceId, traceId);
  });
});
