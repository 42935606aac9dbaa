/**
 * The demo mesh (examples/shop, run from a copy with ports 0): the page through the ingress
 * holds data from catalog (HTTP) and from orders (gRPC, which reserved stock from inventory
 * over TCP), so all three protocols went through the mesh. Stopping leaves no process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { ServiceView } from '../../src/api/registry.js';
import { shopMeshFiles, startMesh, type Mesh } from '../helpers/mesh.js';

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
    assert.match(html, /Products \(from catalog\/\d+ over HTTP\)/);
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

  it('the CLI lists the four services with every endpoint ready', async () => {
    const services = await mesh!.getJson<ServiceView[]>('services');
    const byName = new Map(services.map((s) => [s.name, s]));
    for (const [name, replicas] of [['frontend', 2], ['catalog', 2], ['orders', 1], ['inventory', 1]] as const) {
      assert.equal(byName.get(name)?.endpointsReady, replicas, `${name}: ${JSON.stringify(byName.get(name))}`);
    }
  });
});
