import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WorkloadView } from '../../api/registry.js';
import type { TapMessage } from '../../api/tap.js';
import { AdminServer } from '../../proxy/admin/admin-server.js';
import { tapSite, type TapRecord } from '../../proxy/tap/tap-event.js';
import { TapHub } from '../../proxy/tap/tap-hub.js';
import type { ExchangeRecord } from '../../proxy/pipeline/record.js';
import { HttpError } from '../api/http-error.js';
import { serveTap } from './tap-api.js';
import { tapTargets } from './tap-targets.js';

/** A proxy's admin listener with a real TapHub (what the control plane dials). */
interface FakeProxy {
  nodeId: string;
  hub: TapHub;
  admin: AdminServer;
  publish(target: string, status?: number, grpcStatus?: number): void;
}

async function fakeProxy(nodeId: string, workload: string): Promise<FakeProxy> {
  const hub = new TapHub({ nodeId });
  const admin = new AdminServer(
    { host: '127.0.0.1', port: 0 },
    { isReady: () => true, metricsText: () => Promise.resolve(''), metricsContentType: 'text/plain', configDump: () => ({}), tap: hub },
  );
  await admin.listen();
  const site = tapSite({ nodeId, namespace: 'default', workload, service: workload, identity: `spiffe://td/ns/default/sa/${workload}` }, 'inbound', 'http', '');
  const publish = (target: string, status = 200, grpcStatus?: number): void => {
    const r: ExchangeRecord & TapRecord = {
      method: 'GET', target, host: undefined, status, reason: undefined, upstreamPeer: undefined, requestBodyBytes: 0,
      responseBodyBytes: 0, durationMs: 1, upstreamMs: undefined, upgraded: false, startedAt: 0, grpcStatus, route: undefined, backend: undefined, retries: 0,
    };
    hub.publish(site, r, 'spiffe://td/ns/default/sa/a');
  };
  return { nodeId, hub, admin, publish };
}

function workload(name: string, replicas: { nodeId: string; adminUrl: string; state?: string }[]): WorkloadView {
  return {
    namespace: 'default', name, service: name, serviceAccount: name, ports: [], upstreams: [], ingress: false, agentId: 'h', identity: '',
    replicas: replicas.map((r, i) => ({ replica: i, nodeId: r.nodeId, state: r.state ?? 'ready', restarts: 0, appPid: null, proxyPid: null, adminUrl: r.adminUrl, endpoints: [], lastExit: null })),
  } as WorkloadView;
}

/** Reads a streaming response line by line. */
class Lines {
  private buffered = '';
  private waiting: (() => void) | null = null;
  ended = false;
  constructor(readonly res: http.IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      this.buffered += d;
      this.waiting?.();
    });
    res.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
  }
  /** The next chunk up to `sep` (a line or an SSE frame); null at the end. */
  async next(sep = '\n'): Promise<string | null> {
    for (;;) {
      const i = this.buffered.indexOf(sep);
      if (i >= 0) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + sep.length);
        return line;
      }
      if (this.ended) return null;
      await new Promise<void>((r) => (this.waiting = r));
      this.waiting = null;
    }
  }
  /** Everything up to the end. */
  async rest(): Promise<string> {
    while (!this.ended) {
      await new Promise<void>((r) => (this.waiting = r));
      this.waiting = null;
    }
    return this.buffered;
  }
  async message(): Promise<TapMessage | null> {
    const l = await this.next();
    return l === null ? null : (JSON.parse(l) as TapMessage);
  }
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

describe('GET /api/v1/tap', () => {
  let b0: FakeProxy;
  let b1: FakeProxy;
  let c0: FakeProxy;
  let broken: http.Server;
  let brokenUrl: string;
  let stalled: http.Server;
  let stalledUrl: string;
  let api: http.Server;
  let base: string;
  let workloads: WorkloadView[];

  before(async () => {
    [b0, b1, c0] = await Promise.all([fakeProxy('default/b/0', 'b'), fakeProxy('default/b/1', 'b'), fakeProxy('default/c/0', 'c')]);
    broken = http.createServer((_req, res) => res.writeHead(500).end('boom'));
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    // Answers 200 and then says nothing: never `attached`.
    stalled = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/x-ndjson' }).flushHeaders());
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    stalledUrl = `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`;
    workloads = [
      workload('b', [
        { nodeId: b1.nodeId, adminUrl: b1.admin.url },
        { nodeId: b0.nodeId, adminUrl: b0.admin.url },
        { nodeId: 'default/b/2', adminUrl: 'http://127.0.0.1:1', state: 'stopped' },
      ]),
      workload('c', [{ nodeId: c0.nodeId, adminUrl: c0.admin.url }]),
      workload('d', [
        { nodeId: 'default/d/0', adminUrl: brokenUrl },
        { nodeId: 'default/d/1', adminUrl: c0.admin.url },
      ]),
      workload('e', [
        { nodeId: 'default/e/0', adminUrl: stalledUrl },
        { nodeId: 'default/e/1', adminUrl: c0.admin.url },
      ]),
    ];
    api = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      serveTap(req, res, url, workloads, { heartbeatMs: 20, attachTimeoutMs: 1000 }).catch((err: unknown) => {
        const e = err as HttpError;
        res.writeHead(e instanceof HttpError ? e.status : 500).end(e.message);
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}/api/v1/tap`;
  });

  after(async () => {
    await Promise.all([b0.admin.close(), b1.admin.close(), c0.admin.close()]);
    broken.closeAllConnections();
    stalled.closeAllConnections();
    api.closeAllConnections();
    await Promise.all([new Promise((r) => broken.close(r)), new Promise((r) => stalled.close(r)), new Promise((r) => api.close(r))]);
  });

  const open = async (qs: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; lines: Lines }> => {
    const req = http.get(`${base}?${qs}`, { headers });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
    return { req, res, lines: new Lines(res) };
  };

  it('answers 400 naming the parameter and 404 for an unknown workload', async () => {
    for (const [qs, status, text] of [['status=5x', 400, /^status: /], ['max=0', 400, /^max: /], ['workload=nope', 404, /nope/], ['workload=other/b', 404, /other\/b/]] as const) {
      const { res, lines } = await open(qs);
      assert.equal(res.statusCode, status, qs);
      assert.match(await lines.rest(), text);
    }
  });

  it('merges every running replica of the workload, one attached first, and stops after max in total', async () => {
    const { res, lines } = await open('workload=default/b&max=3');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    assert.deepEqual(await lines.message(), { kind: 'attached', proxies: ['default/b/0', 'default/b/1'] });
    await until(() => b0.hub.active && b1.hub.active);
    c0.publish('/not-b');
    b0.publish('/one');
    b1.publish('/two');
    b0.publish('/three');
    const got: TapMessage[] = [];
    for (let m = await lines.message(); m !== null; m = await lines.message()) got.push(m);
    assert.deepEqual(
      got.map((m) => (m.kind === 'request' ? [m.event.proxy.nodeId, m.event.path] : m.kind)).sort(),
      [['default/b/0', '/one'], ['default/b/0', '/three'], ['default/b/1', '/two']],
    );
    // Both upstream taps were closed when the total was reached.
    await until(() => !b0.hub.active && !b1.hub.active);
  });

  it('forwards status=failed and grpcStatus to the proxies: only the failed gRPC calls come back', async () => {
    const bad = await open('workload=b&grpcStatus=forty');
    assert.equal(bad.res.statusCode, 400);
    assert.match(await bad.lines.rest(), /grpcStatus: /);
    const { lines } = await open('workload=default/b&status=failed&grpcStatus=unavailable&max=1');
    assert.deepEqual(await lines.message(), { kind: 'attached', proxies: ['default/b/0', 'default/b/1'] });
    await until(() => b0.hub.active && b1.hub.active);
    b0.publish('/ok', 200, 0);
    b0.publish('/deadline', 200, 4);
    b1.publish('/http-503', 503);
    b1.publish('/unavailable', 200, 14);
    const m = await lines.message();
    assert.deepEqual(m?.kind === 'request' && [m.event.path, m.event.status, m.event.grpcStatus], ['/unavailable', 200, 14]);
    assert.equal(await lines.message(), null);
    await until(() => !b0.hub.active && !b1.hub.active);
  });

  it('reports a proxy whose tap fails as an error, after attached naming the others', async () => {
    const { lines, req } = await open('workload=d');
    assert.deepEqual(await lines.message(), { kind: 'attached', proxies: ['default/d/1'] });
    const err = await lines.message();
    assert.equal(err?.kind, 'error');
    assert.equal(err.kind === 'error' && err.proxy, 'default/d/0');
    assert.match(err.kind === 'error' ? err.message : '', /500: boom/);
    req.destroy();
    await until(() => !c0.hub.active);
  });

  it('does not wait for ever on a proxy that answers but never attaches: it is reported, the others stream', async () => {
    const { lines, req } = await open('workload=e');
    assert.deepEqual(await lines.message(), { kind: 'attached', proxies: ['default/e/1'] });
    const err = await lines.message();
    assert.equal(err?.kind === 'error' && err.proxy, 'default/e/0');
    assert.match(err?.kind === 'error' ? err.message : '', /no attached line/);
    await until(() => c0.hub.active);
    c0.publish('/after-stall');
    const m = await lines.message();
    assert.equal(m?.kind === 'request' && m.event.path, '/after-stall');
    req.destroy();
    await until(() => !c0.hub.active);
  });

  it('closes every upstream tap when the client leaves', async () => {
    const { lines, req } = await open('');
    // Every proxy but the stopped one; d/1 and e/1 share c/0's admin listener, d/0 answers 500, e/0 stalls.
    assert.deepEqual(await lines.message(), { kind: 'attached', proxies: ['default/b/0', 'default/b/1', 'default/c/0', 'default/d/1', 'default/e/1'] });
    assert.equal((await lines.message())?.kind, 'error');
    assert.equal((await lines.message())?.kind, 'error');
    await until(() => b0.hub.active && b1.hub.active && c0.hub.subscriberCount === 3);
    b1.publish('/x');
    const m = await lines.message();
    assert.equal(m?.kind === 'request' && m.event.path, '/x');
    req.destroy();
    await until(() => !b0.hub.active && !b1.hub.active && !c0.hub.active);
  });

  it('frames messages as SSE for accept: text/event-stream, with heartbeat comments', async () => {
    const { res, lines, req } = await open('workload=c', { accept: 'text/event-stream' });
    assert.equal(res.headers['content-type'], 'text/event-stream');
    // Frames up to the next data frame; comments (heartbeats) may come at any time.
    const seen: string[] = [];
    const nextData = async (): Promise<TapMessage> => {
      for (;;) {
        const f = await lines.next('\n\n');
        assert.notEqual(f, null, 'the stream ended');
        if (f!.startsWith('data: ')) return JSON.parse(f!.slice('data: '.length)) as TapMessage;
        seen.push(f!);
      }
    };
    assert.deepEqual(await nextData(), { kind: 'attached', proxies: ['default/c/0'] });
    await until(() => c0.hub.active);
    c0.publish('/sse', 503);
    const m = await nextData();
    assert.equal(m.kind === 'request' && `${m.event.path} ${m.event.status}`, '/sse 503');
    while (!seen.includes(': heartbeat')) {
      const f = await lines.next('\n\n');
      assert.notEqual(f, null, 'the stream ended before a heartbeat');
      seen.push(f!);
    }
    assert.ok(seen.every((f) => f === ': heartbeat'));
    req.destroy();
    await until(() => !c0.hub.active);
  });
});

describe('tapTargets', () => {
  it('leaves out stopped replicas and those without an admin URL, sorted by node id', () => {
    const ws = [workload('b', [{ nodeId: 'default/b/1', adminUrl: 'http://127.0.0.1:2/' }, { nodeId: 'default/b/0', adminUrl: '' }, { nodeId: 'default/b/2', adminUrl: 'http://127.0.0.1:3', state: 'stopped' }]), workload('a', [{ nodeId: 'default/a/0', adminUrl: 'http://127.0.0.1:4' }])];
    assert.deepEqual(tapTargets(ws, null), [{ nodeId: 'default/a/0', adminUrl: 'http://127.0.0.1:4' }, { nodeId: 'default/b/1', adminUrl: 'http://127.0.0.1:2' }]);
    assert.deepEqual(tapTargets(ws, 'b').map((t) => t.nodeId), ['default/b/1']);
    assert.deepEqual(tapTargets(ws, 'default/a').map((t) => t.nodeId), ['default/a/0']);
    assert.throws(() => tapTargets(ws, 'kube-system/a'), (e: unknown) => e instanceof HttpError && e.status === 404);
  });
});
