/**
 * The demo mesh (examples/shop, run from a copy with ports 0): the page through the ingress
 * holds data from catalog (HTTP) and from orders (gRPC, which reserved stock from inventory
 * over TCP), so all three protocols went through the mesh. Stopping leaves no process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { ServiceView } from '../../src/api/registry.js';
import { join } from 'node:path';
import { shopMeshFiles, startMesh, type Mesh } from '../helpers/mesh.js';
import { waitFor } from '../helpers/proc.js';
import { startCli } from '../helpers/cli-run.js';
import type { TapEvent } from '../../src/api/tap.js';

describe('demo: examples/shop', () => {
  let mesh: Mesh | undefined;

  before(async () => {
    mesh = await startMesh({ ...(await shopMeshFiles()), readyTimeoutMs: 90_000 });
  });

  after(async () => {
    await mesh?.stop();
  });

  it('the ready line names the api, the push endpoint and ingress.web (ports chosen at start)', () => {
    assert.match(mesh!.apiUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(!mesh!.apiUrl.endsWith(':15000'), 'the test copy uses port 0, not the demo port');
    assert.ok(mesh!.ingress['web'], mesh!.readyLine);
    assert.ok(!mesh!.ingress['web'].endsWith(':8080'));
  });

  it('GET / through the ingress shows products (catalog, HTTP) and an order (orders, gRPC + inventory, TCP)', async () => {
    const res = await request(`${mesh!.ingress['web']}/`);
    const html = await res.body.text();
    assert.equal(res.statusCode, 200, html);
    assert.match(html, /Products \(from catalog\/\d+ over HTTP\)/, 'resources/catalog-canary.yaml keeps catalog-v2 at 0%');
    assert.ok(html.includes('Trellis mug') && html.includes('mTLS sticker pack'), 'catalog data on the page');
    assert.match(html, /Order \(from orders\/\d+ over gRPC\)/);
    assert.match(html, /Order ord-\d+-\d+: CONFIRMED \(stock left: \d+\)/, 'inventory confirmed the reservation');
    assert.ok(html.includes('Tracking: PLACED -&gt; PACKED -&gt; SHIPPED'), 'the server stream arrived whole');
    assert.ok(!html.includes('unavailable'), html);
  });

  it('GET /api/products returns the catalog JSON through frontend', async () => {
    const res = await request(`${mesh!.ingress['web']}/api/products`);
    assert.equal(res.statusCode, 200);
    const products = (await res.body.json()) as { sku: string }[];
    assert.deepEqual(products.map((p) => p.sku), ['mug', 'tee', 'sticker']);
  });

  it('the CLI lists the services with every endpoint ready', async () => {
    const services = await mesh!.getJson<ServiceView[]>('services');
    const byName = new Map(services.map((s) => [s.name, s]));
    for (const [name, replicas] of [['frontend', 2], ['catalog', 3], ['catalog-v1', 2], ['catalog-v2', 1], ['orders', 1], ['inventory', 1]] as const) {
      assert.equal(byName.get(name)?.endpointsReady, replicas, `${name}: ${JSON.stringify(byName.get(name))}`);
    }
  });

  it('the README canary: canary/100.yaml moves every catalog request to v2, resources/catalog-canary.yaml rolls back', async () => {
    const servedBy = async (): Promise<string[]> => {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await request(`${mesh!.ingress['web']}/api/products`);
        assert.equal(res.statusCode, 200);
        seen.add(String(res.headers['x-catalog-served-by']));
        await res.body.dump();
      }
      return [...seen].map((s) => s.split('/')[0] as string).sort();
    };
    assert.deepEqual([...new Set(await servedBy())], ['catalog']);
    const apply = async (file: string): Promise<void> => {
      const r = await mesh!.cli(['apply', '-f', join(mesh!.dir, file), '--control-plane', mesh!.apiUrl, '--state-dir', mesh!.stateDir]);
      assert.equal(r.code, 0, r.stderr);
    };
    await apply('canary/100.yaml');
    await waitFor('catalog-v2 to serve every request', async () => ((await servedBy()).every((w) => w === 'catalog-v2') ? true : undefined), { timeoutMs: 15_000 });
    const res = await request(`${mesh!.ingress['web']}/api/products`);
    assert.ok(((await res.body.json()) as { sku: string }[]).some((p) => p.sku === 'hoodie'), 'v2 sells the hoodie');
    await apply('resources/catalog-canary.yaml');
    await waitFor('catalog (v1) to serve every request again', async () => ((await servedBy()).every((w) => w === 'catalog') ? true : undefined), { timeoutMs: 15_000 });
  });

  it('the README fault: faults/catalog-abort.yaml, found with trellis tap (503, fault-injected, on the way to catalog), then rolled back', async () => {
    const cli = async (args: string[]): Promise<void> => {
      const r = await mesh!.cli([...args, '--control-plane', mesh!.apiUrl, '--state-dir', mesh!.stateDir]);
      assert.equal(r.code, 0, r.stderr);
    };
    await cli(['apply', '-f', join(mesh!.dir, 'faults/catalog-abort.yaml')]);
    const tap = startCli(['tap', 'frontend', '--direction', 'outbound', '--status', '5xx', '--max', '1', '-o', 'json', '--control-plane', mesh!.apiUrl], mesh!.cliEnv());
    await tap.stderrLine(/tapping 2 proxies of frontend/);
    let exited = false;
    void tap.done.then(() => (exited = true));
    // 20% of catalog calls fail: a few hundred page loads at most before the tap has one.
    for (let i = 0; i < 400 && !exited; i++) await (await request(`${mesh!.ingress['web']}/api/products`)).body.dump();
    const { code, stdout, stderr } = await tap.done;
    assert.equal(code, 0, stderr);
    const event = JSON.parse(stdout.trim()) as TapEvent;
    assert.equal(event.status, 503);
    assert.equal(event.reason, 'fault-injected');
    assert.equal(event.dst.service, 'default/catalog', 'aborted before a backend was picked, so it counts under the route parent service');
    assert.equal(event.route, 'default/catalog-canary');
    await cli(['apply', '-f', join(mesh!.dir, 'resources/catalog-canary.yaml')]);
    await cli(['delete', 'faultinjection', 'catalog-abort']);
  });
});
