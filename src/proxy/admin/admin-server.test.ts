import { test } from 'node:test';
import assert from 'node:assert/strict';
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
