/**
 * Authorization over real proxies (`trellis up`, policies through `trellis apply`): ALLOW,
 * DENY, AUDIT and the three default actions, hostile paths as raw bytes, what a refusal looks
 * like over HTTP/1, gRPC and TCP, access log, tap and metrics, and what a policy change does to
 * connections and streams that are already open (docs/security.md).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { TapEvent } from '../../src/api/tap.js';
import type { WhyAnswer } from '../../src/api/why.js';
import { authzPolicy, rawExchange, useAuthzMesh } from '../helpers/authz-mesh.js';
import { startCli } from '../helpers/cli-run.js';
import { call, echoClient, type EchoReply } from '../helpers/grpc-echo.js';
import { spiffeId } from '../helpers/meshes.js';
import { waitFor } from '../helpers/proc.js';

const HOSTILE = ['//admin', '/a/../admin', '/%2e%2e/admin', '/%2Fadmin', '\\admin', '/admin#x', '/./admin', '/%61dmin', '/admin/', '/ADMIN/../admin'];

/** The status line's code of a raw HTTP/1.1 reply ('' when the connection closed without one). */
function statusOf(reply: string): string {
  return /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? '';
}

/** True when `text` holds one whole HTTP/1.1 response (content-length or chunked body). */
function wholeReply(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = text.slice(0, end);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length !== null) return text.length - end - 4 >= Number(length[1]);
  return /\r\ntransfer-encoding: *chunked/i.test(head) ? text.endsWith('0\r\n\r\n') : false;
}

/** Connects through an outbound TCP listener; resolves with what happened to one echoed line. */
function tcpEcho(port: number): Promise<{ socket: net.Socket; echoed: (line: string) => Promise<'echoed' | 'closed'> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let buffered = '';
    let closed = false;
    const waiters: (() => void)[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buffered += d;
      for (const w of waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      for (const w of waiters.splice(0)) w();
    });
    socket.once('connect', () =>
      resolve({
        socket,
        echoed: async (line) => {
          buffered = '';
          socket.write(`${line}\n`);
          for (;;) {
            if (buffered.includes(`${line}\n`)) return 'echoed';
            if (closed) return 'closed';
            await new Promise<void>((r) => {
              const t = setTimeout(r, 10_000);
              waiters.push(() => {
                clearTimeout(t);
                r();
              });
            });
            if (!buffered.includes(`${line}\n`) && !closed) throw new Error(`line ${line} neither echoed nor the connection closed within 10 s`);
          }
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** A metric sample's value (0 when absent); `labels` as written in the exposition, sorted as the proxy writes them. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('authorization over real proxies', () => {
  const t = useAuthzMesh();
  const WEB = spiffeId('web');
  const BATCH = spiffeId('batch');

  it('no policy: every caller is served, and records carry no policy', async () => {
    const r = await t.send(t.ports.batchApi, '/open');
    assert.equal(r.status, 200);
    const line = await waitFor('the request in api-0.access.log', async () => (await t.accessLines('api-0')).find((l) => l.target === '/open'));
    assert.equal(line.policy, undefined);
  });

  it('DENY: /admin is 403 unauthorized for everyone, the rest is served; access log, tap and metrics name the policy', async () => {
    await t.apply(authzPolicy('no-admin', 'api', `  action: DENY
  rules:
    - to: [{ operation: { paths: ["/admin/*"] } }]`));
    const tap = startCli(['tap', 'api', '--max', '1', '--path', '/admin', '-o', 'json', '--control-plane', t.mesh.apiUrl], t.mesh.cliEnv());
    await tap.stderrLine(/tapping/);
    const denied = await t.send(t.ports.webApi, '/admin/users');
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['trellis-reason'], 'unauthorized');
    assert.doesNotMatch(denied.body, /no-admin/, 'the body does not name the policy to the caller');
    assert.equal((await t.send(t.ports.webApi, '/admin')).status, 403, '/admin/* covers /admin');
    assert.equal((await t.send(t.ports.webApi, '/administrator')).status, 200);
    assert.equal((await t.send(t.ports.batchApi, '/orders')).status, 200);

    const tapped = await tap.done;
    assert.equal(tapped.code, 0, tapped.stderr);
    const ev = JSON.parse(tapped.stdout.trim().split('\n')[0] as string) as TapEvent;
    assert.deepEqual([ev.status, ev.reason, ev.policy, ev.src.identity], [403, 'unauthorized', 'default/no-admin', WEB]);

    const line = await waitFor('the denial in api-0.access.log', async () => (await t.accessLines('api-0')).find((l) => l.target === '/admin/users'));
    assert.deepEqual([line.status, line.reason, line.policy, line.peerIdentity], [403, 'unauthorized', 'default/no-admin', WEB]);
    const served = (await t.accessLines('api-0')).find((l) => l.target === '/orders');
    assert.equal(served?.policy, 'default', 'an allowed request names what allowed it: the default');

    const m = await t.metrics('api');
    assert.equal(sample(m, 'trellis_authz_decisions_total', { policy: 'default/no-admin', decision: 'denied' }), 2);
    assert.ok(sample(m, 'trellis_authz_decisions_total', { policy: 'default', decision: 'allowed' }) >= 2);
    // Bounded labels: a policy (or default / health-check) and a decision, never a path or a caller.
    const series = m.split('\n').filter((x) => x.startsWith('trellis_authz_decisions_total{'));
    assert.ok(series.length > 0);
    for (const l of series) {
      assert.deepEqual([...l.matchAll(/(\w+)="/g)].map((x) => x[1]).sort(), ['decision', 'policy'], l);
      assert.doesNotMatch(l, /admin\/users|spiffe:/, l);
    }
  });

  it('hostile spellings of /admin, sent as raw bytes, never reach the app past the DENY', async () => {
    const before = (await t.accessLines('api-0')).length;
    for (const path of HOSTILE) {
      const reply = await rawExchange(t.ports.webApi, `GET ${path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`);
      assert.ok(['400', '403'].includes(statusOf(reply)), `${JSON.stringify(path)} -> ${reply.slice(0, 120)}`);
    }
    const seen = (JSON.parse((await t.send(t.ports.webApi, '/__requests')).body) as { requests: { path: string }[] }).requests;
    assert.deepEqual(seen.filter((r) => /admin/i.test(r.path)).map((r) => r.path), ['/administrator'], 'only the one allowed request with admin in its name ever reached the app');
    const lines = (await t.accessLines('api-0')).slice(before);
    for (const l of lines.filter((x) => /admin/i.test(String(x.target)))) assert.equal(l.status, 403, JSON.stringify(l));
  });

  it('ALLOW under the default allow changes nothing: the first ALLOW never makes a service deny-all', async () => {
    await t.clear();
    await t.apply(authzPolicy('web-only', 'api', `  action: ALLOW
  rules:
    - from: [{ source: { principals: ["${WEB}"] } }]`));
    assert.equal((await t.send(t.ports.webApi, '/x')).status, 200);
    assert.equal((await t.send(t.ports.batchApi, '/x')).status, 200, 'batch matches no ALLOW, and the default is still allow');
  });

  it('defaultAction deny: only what an ALLOW names is served; notPaths hold against hostile spellings; the agent\'s health probes still pass', async () => {
    await t.apply(authzPolicy('web-only', 'api', `  defaultAction: deny
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["${WEB}"] } }]
      to: [{ operation: { notPaths: ["/admin/*", "/internal"] } }]`));
    assert.equal((await t.send(t.ports.webApi, '/x')).status, 200);
    const batch = await t.send(t.ports.batchApi, '/x');
    assert.deepEqual([batch.status, batch.headers['trellis-reason']], [403, 'unauthorized']);
    assert.equal((await t.send(t.ports.webApi, '/admin')).status, 403);
    assert.equal((await t.send(t.ports.webApi, '/internal')).status, 403);
    const line = await waitFor('batch\'s denial in the log', async () => (await t.accessLines('api-0')).find((l) => l.peerIdentity === BATCH && l.status === 403));
    assert.equal(line.policy, 'default', 'refused by the default action');

    for (const path of [...HOSTILE, '//internal', '/x/../internal', '/%69nternal']) {
      const reply = await rawExchange(t.ports.webApi, `GET ${path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`);
      assert.ok(['400', '403'].includes(statusOf(reply)), `${JSON.stringify(path)} -> ${reply.slice(0, 120)}`);
    }
    const seen = (JSON.parse((await t.send(t.ports.webApi, '/__requests')).body) as { requests: { path: string }[] }).requests;
    assert.deepEqual(seen.filter((r) => /admin|internal/i.test(r.path) && r.path !== '/administrator'), []);

    // The agent probes the app directly every second; under deny-all the endpoint stays ready.
    await new Promise((r) => setTimeout(r, 2500));
    const eps = await t.mesh.getJson<{ ready: boolean; service: string }[]>('endpoints');
    assert.equal(eps.find((e) => e.service === 'api')?.ready, true);
  });

  it('defaultAction authenticated: every caller with a mesh identity is served', async () => {
    await t.apply(authzPolicy('web-only', 'api', `  defaultAction: authenticated`));
    assert.equal((await t.send(t.ports.batchApi, '/x')).status, 200);
    const m = await t.metrics('api');
    assert.ok(sample(m, 'trellis_authz_decisions_total', { policy: 'default', decision: 'allowed' }) >= 1);
  });

  it('AUDIT logs and counts a match and changes nothing', async () => {
    await t.clear();
    await t.apply(authzPolicy('audit-deletes', 'api', `  action: AUDIT
  rules:
    - to: [{ operation: { methods: [DELETE] } }]`));
    const before = sample(await t.metrics('api'), 'trellis_authz_decisions_total', { policy: 'default/audit-deletes', decision: 'audited' });
    assert.equal((await t.send(t.ports.batchApi, '/thing', { method: 'DELETE' })).status, 200);
    assert.equal((await t.send(t.ports.batchApi, '/thing')).status, 200);
    const line = await waitFor('the audited DELETE in the log', async () => (await t.accessLines('api-0')).find((l) => l.method === 'DELETE' && l.audit !== undefined));
    assert.deepEqual([line.status, line.audit, line.policy], [200, 'default/audit-deletes', 'default']);
    assert.equal(sample(await t.metrics('api'), 'trellis_authz_decisions_total', { policy: 'default/audit-deletes', decision: 'audited' }), before + 1);
  });

  it('gRPC: a DENY is PERMISSION_DENIED; it applies to new calls on an open channel, while a stream opened before it runs to its end', async () => {
    await t.clear();
    const client = echoClient(t.ports.webGrpc);
    try {
      assert.equal((await call(client, 'unary', 'before')).error, null);
      const stream = client.bidi({ deadline: Date.now() + 30_000 });
      const replies: EchoReply[] = [];
      const next = (): Promise<EchoReply> => new Promise((resolve, reject) => {
        stream.once('data', (r: EchoReply) => {
          replies.push(r);
          resolve(r);
        });
        stream.once('error', reject);
      });
      let got = next();
      stream.write({ message: 'one' });
      assert.equal((await got).message, 'ONE');

      await t.apply(authzPolicy('no-unary', 'grpc-echo', `  action: DENY
  rules:
    - to: [{ operation: { grpcServices: ["*"] } }]`));
      const denied = await call(client, 'unary', 'after');
      assert.equal(denied.error?.code, grpc.status.PERMISSION_DENIED, 'a new call on the same open channel meets the new policy');
      assert.equal(denied.error?.metadata.get('trellis-reason')[0], 'unauthorized');

      got = next();
      stream.write({ message: 'two' });
      assert.equal((await got).message, 'TWO', 'the stream opened before the DENY keeps its decision');
      stream.end();
      const ended = await new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
      assert.equal(ended.code, grpc.status.OK);
    } finally {
      client.close();
    }
  });

  it('TCP: a denied caller\'s connection is reset after the handshake; a new DENY resets open connections it covers and only those', async () => {
    await t.clear();
    const web = await tcpEcho(t.ports.webTcp);
    const batch = await tcpEcho(t.ports.batchTcp);
    try {
      assert.equal(await web.echoed('w1'), 'echoed');
      assert.equal(await batch.echoed('b1'), 'echoed');
      await t.apply(authzPolicy('no-batch', 'tcp-echo', `  action: DENY
  rules:
    - from: [{ source: { principals: ["${BATCH}"] } }]`));
      assert.equal(await batch.echoed('b2'), 'closed', 'the open connection of the denied caller is reset by the new policy');
      assert.equal(await web.echoed('w2'), 'echoed', 'the other caller\'s open connection is untouched');

      const again = await tcpEcho(t.ports.batchTcp);
      assert.equal(await again.echoed('b3'), 'closed', 'a new connection of the denied caller is refused');
      again.socket.destroy();
      // Two lines: the open connection the new policy reset, and the new connection it refused.
      const line = await waitFor('both refused connections in tcp-echo-0.access.log', async () => {
        const l = (await t.accessLines('tcp-echo-0')).filter((x) => x.reason === 'unauthorized');
        return l.length >= 2 ? l : undefined;
      });
      for (const l of line) assert.deepEqual([l.protocol, l.policy, l.peerIdentity], ['tcp', 'default/no-batch', BATCH]);
      assert.equal(sample(await t.metrics('tcp-echo'), 'trellis_authz_decisions_total', { policy: 'default/no-batch', decision: 'denied' }), line.length);
      const workloads = await t.mesh.getJson<{ name: string; replicas: { restarts: number }[] }[]>('workloads');
      assert.equal(workloads.find((w) => w.name === 'tcp-echo')?.replicas[0]?.restarts, 0, 'resetting connections never crashed the proxy');
    } finally {
      web.socket.destroy();
      batch.socket.destroy();
    }
  });

  it('HTTP/1 keep-alive: a policy change applies to the next request on the open connection', async () => {
    await t.clear();
    // One held-open client connection: the second request is written only after the change.
    const socket = net.connect(t.ports.batchApi, '127.0.0.1');
    socket.setEncoding('latin1');
    let buffered = '';
    socket.on('data', (d: string) => (buffered += d));
    const ask = async (path: string): Promise<string> => {
      buffered = '';
      socket.write(`GET ${path} HTTP/1.1\r\nHost: api\r\n\r\n`);
      return waitFor(`a whole reply to ${path}`, async () => (wholeReply(buffered) ? statusOf(buffered) : undefined), { timeoutMs: 10_000 });
    };
    try {
      await new Promise((r) => socket.once('connect', r));
      assert.equal(await ask('/before'), '200');
      await t.apply(authzPolicy('lock', 'api', `  defaultAction: deny`));
      assert.equal(await ask('/after'), '403', 'the same client connection (and the pooled mesh connection behind it) meets the new policy');
      assert.equal(socket.destroyed, false, 'a refusal does not close the connection');
    } finally {
      socket.destroy();
      await t.clear();
    }
  });
});

describe('trellis why agrees with what the proxies did', () => {
  const t = useAuthzMesh();
  const WEB = spiffeId('web');
  const BATCH = spiffeId('batch');

  /** A fixed corpus: allowed, denied by a policy and by the default, audited, routed to either backend, refused before routing. */
  const CORPUS: { from: 'web' | 'batch'; method: string; path: string }[] = [
    { from: 'web', method: 'GET', path: '/orders' },
    { from: 'batch', method: 'GET', path: '/orders' },
    { from: 'web', method: 'GET', path: '/admin/x' },
    { from: 'web', method: 'POST', path: '/orders' },
    { from: 'web', method: 'DELETE', path: '/orders' },
    { from: 'batch', method: 'DELETE', path: '/orders' },
    { from: 'web', method: 'GET', path: '/v2/users' },
    { from: 'batch', method: 'GET', path: '/v2/secret' },
    { from: 'batch', method: 'GET', path: '/v2/public' },
    { from: 'web', method: 'GET', path: '/a/../admin' },
    { from: 'web', method: 'GET', path: '/%2Fadmin' },
  ];

  it('on every request of the corpus: outcome, backend, deciding policy and audit', async () => {
    await t.apply(`${authzPolicy('api-lock', 'api', `  defaultAction: deny
  action: ALLOW
  rules:
    - from: [{ source: { principals: ["${WEB}"] } }]
      to: [{ operation: { notPaths: ["/admin/*"] } }]`)}
---
${authzPolicy('no-delete', 'api', `  action: DENY
  rules:
    - from: [{ source: { principals: ["${BATCH}"] } }]
      to: [{ operation: { methods: [DELETE] } }]`)}
---
${authzPolicy('audit-posts', 'api', `  action: AUDIT
  rules:
    - to: [{ operation: { methods: [POST] } }]`)}
---
${authzPolicy('no-secret', 'api-v2', `  action: DENY
  rules:
    - to: [{ operation: { paths: ["/v2/secret"] } }]`)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: default }
spec:
  parentRefs: [{ name: api, kind: Service, group: "" }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2 } }]
      backendRefs: [{ name: api-v2, port: 80 }]
    - backendRefs: [{ name: api, port: 80 }]
`);
    const seen = new Set<string>();
    for (const [i, c] of CORPUS.entries()) {
      const path = `${c.path}?c=${i}`;
      const why = await t.mesh.cli(['why', c.from, 'api:http', '--path', path, '--method', c.method, '-o', 'json']);
      assert.ok(why.code === 0 || why.code === 1, why.stderr);
      const a = JSON.parse(why.stdout) as WhyAnswer;
      assert.equal(why.code, a.outcome === 'allowed' ? 0 : 1, 'the exit status says whether the app would serve it');
      const port = c.from === 'web' ? t.ports.webApi : t.ports.batchApi;
      const reply = await rawExchange(port, `${c.method} ${path} HTTP/1.1\r\nHost: api\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      const status = statusOf(reply);
      const at = `${c.from} ${c.method} ${path}: why said ${a.outcome}, the proxy answered ${status}`;
      const expected = { allowed: '200', denied: '403', 'bad-path': '400' }[a.outcome as 'allowed' | 'denied' | 'bad-path'];
      assert.equal(status, expected, at);
      seen.add(a.outcome);
      if (a.outcome === 'bad-path') continue;
      const backend = a.destinations[0];
      assert.ok(backend !== undefined, at);
      const workload = backend.cluster === 'default/api-v2:http' ? 'api-v2' : 'api';
      if (a.outcome === 'allowed') assert.match(reply, new RegExp(`x-echo-workload: ${workload}\\r\\n`, 'i'), `${at}: served by ${workload}`);
      const line = await waitFor(`${at}: its line in ${workload}-0.access.log`, async () => (await t.accessLines(`${workload}-0`)).find((l) => String(l.target).endsWith(`c=${i}`)));
      const g = backend.groups[0];
      assert.equal(line.policy ?? 'default', g?.decision.label, `${at}: the deciding policy`);
      assert.equal(line.audit, g?.audit, `${at}: the audit`);
      if (g?.audit !== undefined) seen.add('audited');
      seen.add(workload);
    }
    assert.deepEqual([...seen].sort(), ['allowed', 'api', 'api-v2', 'audited', 'bad-path', 'denied'], 'the corpus covers every case');
  });
});
