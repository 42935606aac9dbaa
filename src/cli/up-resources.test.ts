import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import type { ResourceView } from '../api/resources.js';
import { cliEntry } from '../util/paths.js';

// `trellis up` with <mesh>/resources/: applied once the control plane is up, attached to the
// services the agent registers.

const APP = `import http from 'node:http';
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;
const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: up-resources }
spec:
  trustDomain: up.trellis.local
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  drainTimeout: 1s
  workloads:
    - name: hello
      command: [node, app.mjs]
      ports: [{ name: http }]
`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: hello }
spec:
  parentRefs: [{ name: hello }]
  rules: [{ backendRefs: [{ name: hello, port: 8080 }] }]
`;

test('up applies resources/*.yaml; the route is attached to the registered service', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-up-res-'));
  await writeFile(join(dir, 'app.mjs'), APP);
  await writeFile(join(dir, 'trellis.yaml'), MESH);
  await mkdir(join(dir, 'resources'));
  await writeFile(join(dir, 'resources', 'routes.yaml'), ROUTE);
  const up = spawn(process.execPath, [cliEntry, 'up', dir, '--state-dir', join(dir, 'state')], { cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  up.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => up.once('exit', r));
  try {
    const ready = await new Promise<string>((resolve, reject) => {
      up.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('ready '));
        if (line !== undefined) resolve(line);
      });
      void exit.then((c) => reject(new Error(`up exited (${String(c)}): ${err}`)));
    });
    const api = /api=(\S+)/.exec(ready)?.[1] ?? '';
    const token = readFileSync(join(dir, 'state', 'read-token'), 'utf8').trim();
    const res = await request(`${api}/api/v1/resources/HTTPRoute/default/hello`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    const route = (await res.body.json()) as ResourceView;
    const accepted = route.status.parents?.[0]?.conditions.find((c) => c.type === 'Accepted');
    assert.equal(accepted?.status, 'True', JSON.stringify(route.status));
    up.kill('SIGINT');
    assert.equal(await exit, 0, err);
  } finally {
    up.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
