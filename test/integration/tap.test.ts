/**
 * `trellis tap` and `trellis top` against a real mesh (app a -> a's proxy -> b's proxy -> app b):
 * the tap shows exactly the requests sent (method, path, status, a's identity, b's service),
 * its filters show only matching ones, top counts per path and success rates exactly, and the
 * control plane's API speaks SSE to an EventSource-style client.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { TapEvent } from '../../src/api/tap.js';
import type { TopRow } from '../../src/cli/top-rows.js';
import { spiffeId } from '../helpers/meshes.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { startCli, type CliRun } from '../helpers/cli-run.js';

/** The traffic every test sends, in this order (non-matching requests first, so a leaky filter shows). */
const TRAFFIC: { method: 'GET' | 'POST'; path: string; status: number }[] = [
  ...Array.from({ length: 7 }, () => ({ method: 'GET' as const, path: '/a', status: 200 })),
  ...Array.from({ length: 3 }, (_, i) => ({ method: 'GET' as const, path: `/b?i=${i}`, status: 200 })),
  { method: 'POST', path: '/x/echo', status: 200 },
  { method: 'POST', path: '/status/503', status: 503 },
];

const key = (e: { method: string; path: string; status: number }): string => `${e.method} ${e.path} ${e.status}`;
const events = (stdout: string): TapEvent[] =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as TapEvent);

describe('trellis tap and trellis top', () => {
  const pair = usePairMesh({ name: 'it-tap', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'] });

  const send = async (): Promise<void> => {
    for (const t of TRAFFIC) {
      const r = await request(`http://127.0.0.1:${pair.outPort}${t.path}`, { method: t.method, body: t.method === 'POST' ? 'hi' : null, dispatcher: pair.agent });
      await r.body.text();
      assert.equal(r.statusCode, t.status, `${t.method} ${t.path}`);
    }
  };
  const tap = (args: string[]): CliRun => startCli(['tap', ...args, '--control-plane', pair.mesh.apiUrl], pair.mesh.cliEnv());

  it('tap b shows exactly the requests sent, as b served them', async () => {
    const run = tap(['b', '--max', String(TRAFFIC.length), '-o', 'json']);
    await run.stderrLine(/tapping 1 proxy of b/);
    await send();
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    const got = events(r.stdout);
    assert.deepEqual(got.map(key).sort(), TRAFFIC.map(key).sort());
    for (const e of got) {
      assert.equal(e.direction, 'inbound');
      assert.equal(e.src.identity, spiffeId('a'));
      assert.equal(e.dst.service, 'default/b');
      assert.equal(e.proxy.workload, 'b');
      assert.ok(e.durationMs >= 0);
    }
  });

  it('filters by method, path prefix and status class show only matching requests', async () => {
    const posts = tap(['b', '--method', 'post', '--max', '2', '-o', 'json']);
    const xs = tap(['b', '--path', '/x', '--max', '1', '-o', 'json']);
    const failures = tap(['b', '--status', '5xx', '--max', '1', '-o', 'json']);
    const text = tap(['b', '--status', '503', '--max', '1']);
    await Promise.all([posts, xs, failures, text].map((r) => r.stderrLine(/tapping 1 proxy of b/)));
    await send();
    const [p, x, f, t] = await Promise.all([posts.done, xs.done, failures.done, text.done]);
    for (const r of [p, x, f, t]) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(events(p.stdout).map(key), ['POST /x/echo 200', 'POST /status/503 503']);
    assert.deepEqual(events(x.stdout).map(key), ['POST /x/echo 200']);
    assert.deepEqual(events(f.stdout).map(key), ['POST /status/503 503']);
    assert.match(t.stdout, /^\d\d:\d\d:\d\d\.\d{3} inbound default\/a -> default\/b POST \/status\/503 503 [0-9.]+ms\n$/);
  });

  it('top b counts per path and success rate exactly', async () => {
    const run = startCli(['top', 'b', '--duration', '4s', '-o', 'json', '--control-plane', pair.mesh.apiUrl], pair.mesh.cliEnv());
    await run.stderrLine(/tapping 1 proxy of b/);
    await send();
    await send();
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { direction: string; rows: TopRow[]; dropped: number };
    assert.equal(out.direction, 'inbound');
    assert.equal(out.dropped, 0);
    assert.deepEqual(
      out.rows.map((row) => [row.source, row.destination, row.method, row.path, row.count, row.successRate]),
      [
        ['default/a', 'default/b', 'GET', '/a', 14, 1],
        ['default/a', 'default/b', 'GET', '/b', 6, 1],
        ['default/a', 'default/b', 'POST', '/status/503', 2, 0],
        ['default/a', 'default/b', 'POST', '/x/echo', 2, 1],
      ],
    );
    for (const row of out.rows) assert.ok(row.bestMs <= row.worstMs);
  });

  it('the control plane streams SSE frames for accept: text/event-stream', async () => {
    const res = await request(`${pair.mesh.apiUrl}/api/v1/tap?workload=default/b&method=POST&max=1`, { headers: { accept: 'text/event-stream', ...pair.mesh.authHeaders() }, bodyTimeout: 20_000 });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.body.setEncoding('utf8');
    let text = '';
    let sent: Promise<void> | undefined;
    for await (const chunk of res.body as AsyncIterable<string>) {
      text += chunk;
      // Send once the tap is live.
      if (sent === undefined && text.includes('"kind":"attached"')) sent = send();
    }
    await sent;
    const frames = text.split('\n\n').filter((f) => f.startsWith('data: '));
    assert.equal(frames.length, 2, text);
    assert.deepEqual(JSON.parse(frames[0]!.slice(6)), { kind: 'attached', proxies: ['default/b/0'] });
    const m = JSON.parse(frames[1]!.slice(6)) as { kind: string; event: TapEvent };
    assert.equal(m.kind, 'request');
    assert.equal(key(m.event), 'POST /x/echo 200');
  });

  it('an unknown workload exits 5, a bad filter exits 2 naming the flag', async () => {
    const unknown = await pair.mesh.cli(['tap', 'nope', '--max', '1']);
    assert.equal(unknown.code, 5, unknown.stderr);
    assert.match(unknown.stderr, /no workload "nope"/);
    const bad = await pair.mesh.cli(['tap', 'b', '--status', '5x']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--status: /);
  });
});
