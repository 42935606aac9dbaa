import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { dashboardHandler, type DashboardHandler } from './serve-dashboard.js';
import { assetPathFor } from './dashboard-assets.js';

/** A server that answers the way the control plane's API server does: dashboard first, else 404. */
async function serve(handler: DashboardHandler): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    handler(req, res, path)
      .then((served) => {
        if (!served) res.writeHead(404, { 'content-type': 'text/plain' }).end('api 404');
      })
      .catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return { server, url: `http://127.0.0.1:${addr.port}` };
}

/** Sends a request line as is (undici and URL would normalise the path first). */
function rawGet(url: string, target: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
    let data = '';
    socket.setEncoding('utf8').on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('serve-dashboard', () => {
  let root: string;
  let dist: string;
  let site: { server: Server; url: string };
  let missing: { server: Server; url: string };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'trellis-dash-'));
    dist = join(root, 'dist');
    await mkdir(join(dist, 'sub'), { recursive: true });
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(dist, 'app.js'), 'console.log(1);');
    await writeFile(join(dist, 'app.css'), 'body{}');
    await writeFile(join(dist, 'sub', 'x.svg'), '<svg/>');
    await writeFile(join(root, 'secret.txt'), 'outside the dist folder');
    site = await serve(dashboardHandler(dist));
    missing = await serve(dashboardHandler(join(root, 'not-built')));
  });

  after(async () => {
    for (const s of [site, missing]) await new Promise((resolve) => s?.server.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  it('redirects / to /dashboard/', async () => {
    const res = await request(`${site.url}/`);
    await res.body.dump();
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers['location'], '/dashboard/');
  });

  for (const path of ['/dashboard', '/dashboard/', '/dashboard/index.html']) {
    it(`serves index.html for ${path}, no-cache, with the security headers`, async () => {
      const res = await request(`${site.url}${path}`);
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), '<!doctype html><title>t</title>');
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
      assert.doesNotMatch(String(res.headers['content-security-policy']), /unsafe-inline/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    });
  }

  it('serves each asset with its content type', async () => {
    for (const [path, type, body] of [
      ['/dashboard/app.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
      ['/dashboard/app.css', 'text/css; charset=utf-8', 'body{}'],
      ['/dashboard/sub/x.svg', 'image/svg+xml', '<svg/>'],
    ] as const) {
      const res = await request(`${site.url}${path}`);
      assert.equal(res.statusCode, 200, path);
      assert.equal(res.headers['content-type'], type, path);
      assert.equal(await res.body.text(), body, path);
    }
  });

  it('answers 304 to a matching If-None-Match, 200 to a stale one', async () => {
    const first = await request(`${site.url}/dashboard/app.js`);
    await first.body.dump();
    const etag = String(first.headers['etag']);
    assert.match(etag, /^W\/".+"$/);
    const again = await request(`${site.url}/dashboard/app.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(await again.body.text(), '');
    const stale = await request(`${site.url}/dashboard/app.js`, { headers: { 'if-none-match': 'W/"0-0"' } });
    assert.equal(stale.statusCode, 200);
    await stale.body.dump();
  });

  it('answers 404 for unknown files and folders', async () => {
    for (const path of ['/dashboard/nope.js', '/dashboard/sub', '/dashboard/sub/']) {
      const res = await request(`${site.url}${path}`);
      await res.body.dump();
      assert.equal(res.statusCode, 404, path);
    }
  });

  it('never serves a file outside the dist folder', async () => {
    for (const target of ['/dashboard/../secret.txt', '/dashboard/%2e%2e/secret.txt', '/dashboard/..%2fsecret.txt', '/dashboard/sub/..%2f..%2fsecret.txt', '/dashboard/%2E%2E%5Csecret.txt', '/dashboard/.%00/x', '/dashboard/%zz']) {
      const answer = await rawGet(site.url, target);
      assert.doesNotMatch(answer, /outside the dist folder/, target);
      assert.match(answer, /^HTTP\/1\.1 404 /, `${target}: ${answer.split('\r\n')[0]}`);
    }
  });

  it('leaves other paths to the API (returns false)', async () => {
    const res = await request(`${site.url}/api/v1/services`);
    assert.equal(res.statusCode, 404);
    assert.equal(await res.body.text(), 'api 404');
    const near = await request(`${site.url}/dashboardx`);
    assert.equal(await near.body.text(), 'api 404');
  });

  it('answers 503 saying how to build when web/dist is missing', async () => {
    const res = await request(`${missing.url}/dashboard/`);
    assert.equal(res.statusCode, 503);
    assert.match(await res.body.text(), /dashboard not built: run npm run build/);
  });

  it('assetPathFor keeps every path inside the folder', () => {
    assert.equal(assetPathFor('/d', '/dashboard/'), '/d/index.html');
    assert.equal(assetPathFor('/d', '/dashboard/a/b.js'), '/d/a/b.js');
    for (const bad of ['/dashboard/..', '/dashboard/a/../../x', '/dashboard/%2e%2e/x', '/dashboard//etc/passwd', '/dashboard/.hidden', '/dashboard/a%5c..%5cx', '/dashboard/%00']) {
      assert.equal(assetPathFor('/d', bad), undefined, bad);
    }
  });
});
