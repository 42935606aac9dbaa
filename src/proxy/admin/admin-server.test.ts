import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { tapSite } from '../tap/tap-event.js';
import { TapHub } from '../tap/tap-hub.js';
import { AdminServer } from './admin-server.js';

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
    assert.equal((await fetch(`${base}/drain`, { method: 'POST' })).status, 202);
    assert.equal(drained, 1);
  } finally {
    await admin.close();
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
