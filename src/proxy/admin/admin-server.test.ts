import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { tapSite } from '../tap/tap-event.js';
import { TapHub } from '../tap/tap-hub.js';
import { AdminServer } from './admin-server.js';

const TOKEN = 'k3Q9r7W1x0ZpVb2NcT5yLh8sMd4Fg6Ja-Ue_Oi1RtYq';

test('admin: /live at once, /ready follows the source, /metrics, /config, 404', async () => {
  let ready = false;
  let drained = 0;
  const admin = new AdminServer(
    { host: '127.0.0.1', port: 0 },
    {
      isReady: () => ready,
      metricsText: () => Promise.resolve('trellis_config_version 3\n'),
      metricsContentType: 'text/plain; version=0.0.4',
      configDump: () => ({ version: 3 }),
      adminToken: TOKEN,
      drain: () => drained++,
    },
  );
  await admin.listen();
  try {
    const base = admin.url;
    assert.equal((await fetch(`${base}/live`)).status, 200);
    assert.equal((await fetch(`${base}/ready`)).status, 503);
    ready = true;
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    const m = await fetch(`${base}/metrics`);
    assert.match(await m.text(), /trellis_config_version 3/);
    assert.deepEqual(await (await fetch(`${base}/config`)).json(), { version: 3 });
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/drain`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 202);
    assert.equal(drained, 1);
  } finally {
    await admin.close();
  }
});

/** A raw HTTP/1.1 request over a real socket; resolves with the status line and the body. */
function raw(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(head));
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.on('error', reject);
    s.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

test('admin: POST /drain needs the admin token (401 and nothing changes without it); /ready says why it is not ready', async () => {
  let drained = 0;
  let reason = 'starting';
  const source = {
    isReady: () => reason === 'ready',
    notReadyReason: () => reason,
    metricsText: () => Promise.resolve(''),
    metricsContentType: 'text/plain',
    configDump: () => ({}),
    adminToken: TOKEN,
    drain: () => {
      drained++;
      reason = 'draining';
    },
  };
  const admin = new AdminServer({ host: '127.0.0.1', port: 0 }, source);
  await admin.listen();
  try {
    const ready = async (): Promise<[number, string]> => {
      const r = await fetch(`${admin.url}/ready`);
      return [r.status, await r.text()];
    };
    assert.deepEqual(await ready(), [503, 'starting\n']);
    reason = 'ready';
    assert.deepEqual(await ready(), [200, 'ready\n']);
    const refused = [
      '',
      'authorization: Bearer\r\n',
      `authorization: Bearer ${TOKEN.slice(0, -1)}\r\n`,
      `authorization: Bearer ${TOKEN}x\r\n`,
      `authorization: Bearer ${TOKEN.toUpperCase()}\r\n`,
      `authorization: Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}\r\n`,
      `authorization: ${TOKEN}\r\n`,
      `authorization: Bearer ${TOKEN} ${TOKEN}\r\n`,
      `authorization: Bearer ${'A'.repeat(8000)}\r\n`,
      `x-admin-token: ${TOKEN}\r\n`,
    ];
    for (const header of refused) {
      const r = await raw(admin.port, `POST /drain HTTP/1.1\r\nhost: x\r\n${header}content-length: 0\r\nconnection: close\r\n\r\n`);
      assert.equal(r.status, 401, JSON.stringify(header.slice(0, 60)));
      assert.match(r.body, /needs the admin token/);
      assert.ok(!r.body.includes(TOKEN), 'the answer never echoes the token');
    }
    assert.equal(drained, 0, 'no refused call drained');
    assert.deepEqual(await ready(), [200, 'ready\n'], 'and the proxy is still ready');

    const ok = await raw(admin.port, `POST /drain HTTP/1.1\r\nhost: x\r\nAuthorization: bearer ${TOKEN}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    assert.equal(ok.status, 202);
    assert.match(ok.body, /draining/);
    assert.equal(drained, 1);
    assert.deepEqual(await ready(), [503, 'draining\n']);
  } finally {
    await admin.close();
  }

  // A proxy started without an admin token accepts no state-changing call at all.
  const { adminToken: _none, ...tokenless } = source;
  const bare = new AdminServer({ host: '127.0.0.1', port: 0 }, tokenless);
  await bare.listen();
  try {
    const r = await fetch(`${bare.url}/drain`, { method: 'POST', headers: { authorization: 'Bearer undefined' } });
    assert.equal(r.status, 401);
    assert.equal(drained, 1);
  } finally {
    await bare.close();
  }
});

test('admin: GET /tap streams NDJSON (attached first), 400 names the parameter, max ends it, a leaving reader unsubscribes', async () => {
  const hub = new TapHub({ nodeId: 'default/b/0' });
  const site = tapSite({ nodeId: 'default/b/0', namespace: 'default', workload: 'b', service: 'b', identity: 'spiffe://td/ns/default/sa/b' }, 'inbound', 'http', '');
  const rec = (target: string, status = 200) => ({
    method: 'GET', target, host: undefined, status, reason: undefined, upstreamPeer: undefined, requestBodyBytes: 0,
    responseBodyBytes: 0, durationMs: 1, upstreamMs: undefined, upgraded: false, startedAt: 0, grpcStatus: undefined, route: undefined, backend: undefined, retries: 0,
  });
  const admin = new AdminServer(
    { host: '127.0.0.1', port: 0 },
    { isReady: () => true, metricsText: () => Promise.resolve(''), metricsContentType: 'text/plain', configDump: () => ({}), tap: hub },
  );
  await admin.listen();
  try {
    for (const [qs, param] of [['status=5x', 'status'], ['max=0', 'max'], ['max=abc', 'max'], ['direction=up', 'direction']] as const) {
      const r = await fetch(`${admin.url}/tap?${qs}`);
      assert.equal(r.status, 400, qs);
      assert.match(await r.text(), new RegExp(`^${param}: `));
    }
    assert.equal(hub.active, false);

    // max=2 with a status filter: the stream ends by itself after two matching requests.
    const res = await fetch(`${admin.url}/tap?status=5xx&max=2`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assert.deepEqual(JSON.parse(first.value!), { kind: 'attached', proxies: ['default/b/0'] });
    assert.equal(hub.active, true);
    hub.publish(site, rec('/ok'), undefined);
    hub.publish(site, rec('/bad', 503), undefined);
    hub.publish(site, rec('/worse', 500), undefined);
    hub.publish(site, rec('/late', 500), undefined);
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += c.value;
    const lines = rest.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; event: { path: string; status: number } });
    assert.deepEqual(lines.map((l) => [l.kind, l.event.path, l.event.status]), [['request', '/bad', 503], ['request', '/worse', 500]]);
    assert.equal(hub.active, false);

    // A reader that goes away leaves the hub.
    const req = http.get(`${admin.url}/tap`);
    const [resp] = (await once(req, 'response')) as [http.IncomingMessage];
    await once(resp, 'data');
    assert.equal(hub.subscriberCount, 1);
    req.destroy();
    while (hub.subscriberCount > 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(hub.active, false);
  } finally {
    await admin.close();
  }
});
