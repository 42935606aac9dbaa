/**
 * The dashboard end to end: the demo shop mesh with traffic flowing through its ingress, and
 * the dashboard the control plane serves, opened in headless Chromium (Debian's package,
 * driven by playwright-core). Each view gets a screenshot in test-artifacts/dashboard/, taken
 * whether the test passed or not.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { request } from 'undici';
import { packageRoot } from '../../src/util/paths.js';
import { shopMeshFiles, startMesh, type Mesh } from '../helpers/mesh.js';
import { sleep, waitFor } from '../helpers/proc.js';

const artifactsDir = join(packageRoot, 'test-artifacts', 'dashboard');
const chromiumPath = process.env.TRELLIS_CHROMIUM ?? '/usr/bin/chromium';
/** Bounded waits for something the dashboard shows (it polls every 2 s). */
const UI_TIMEOUT_MS = 30_000;

/** The shop's HTTP/gRPC services (inventory speaks opaque TCP: no request metrics). */
const SHOP_SERVICES = ['default/frontend', 'default/catalog', 'default/orders'];
const SHOP_WORKLOADS = ['catalog', 'catalog-v2', 'frontend', 'inventory', 'orders', 'web'];

/**
 * A W3C traceparent with the sampled flag: the mesh follows a caller's decision, so each page
 * load the test sends becomes a kept trace (the demo samples 1 % of new traces by itself).
 * Ids come from a counter: no randomness needed.
 */
function sampledTraceparent(n: number): string {
  return `00-${'7e57'.repeat(4)}${n.toString(16).padStart(16, '0')}-${(n + 1).toString(16).padStart(16, '0')}-01`;
}

/** Requests through the ingress until stopped: the page (catalog + orders, traced) and the product API. */
function trafficLoop(ingress: string): { stop(): Promise<{ ok: number; failed: number }> } {
  let running = true;
  let ok = 0;
  let failed = 0;
  const done = (async () => {
    for (let i = 0; running; i++) {
      try {
        const page = i % 3 === 0;
        const res = await request(`${ingress}${page ? '/' : '/api/products'}`, {
          headers: page ? { traceparent: sampledTraceparent(i + 1) } : {},
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await res.body.dump();
        if (res.statusCode === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
      await sleep(40);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { ok, failed };
    },
  };
}

/** An attribute of the first element matching selector, or undefined (no element or no attribute). */
async function attr(page: Page, selector: string, name: string): Promise<string | undefined> {
  const el = page.locator(selector).first();
  if ((await el.count()) === 0) return undefined;
  return (await el.getAttribute(name)) ?? undefined;
}

/** Polls the page from here (the root tsconfig has no DOM types) until check gives a value. */
function until<T>(what: string, check: () => Promise<T | false>): Promise<T> {
  return waitFor(what, check, { timeoutMs: UI_TIMEOUT_MS, intervalMs: 250 });
}

describe('dashboard in headless Chromium', () => {
  let mesh: Mesh | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let traffic: ReturnType<typeof trafficLoop> | undefined;
  const problems: string[] = [];

  /** Runs a check on a view and keeps its screenshot whatever happens. */
  async function onView(name: string, hash: string, check: () => Promise<void>, fullPage = true): Promise<void> {
    try {
      await page.goto(`${mesh!.dashboardUrl}${hash}`);
      await check();
    } finally {
      await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage }).catch((err: unknown) => console.error(`screenshot ${name} failed: ${String(err)}`));
    }
  }

  before(async () => {
    if (!existsSync(chromiumPath)) {
      throw new Error(`Chromium not found at ${chromiumPath}: install Debian's chromium package (apt-get install chromium) or point TRELLIS_CHROMIUM at a Chromium binary`);
    }
    mkdirSync(artifactsDir, { recursive: true });
    console.log(`dashboard screenshots: ${artifactsDir}`);
    // The bundle under test is the current source: building takes well under a second.
    const build = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'build-dashboard.mjs')], { encoding: 'utf8' });
    assert.equal(build.status, 0, `scripts/build-dashboard.mjs failed:\n${build.stdout}${build.stderr}`);

    // The browser starts while the mesh does (the mesh takes most of the setup time).
    const launching = chromium.launch({ executablePath: chromiumPath, headless: true });
    launching.catch(() => undefined); // awaited below; this only stops an early failure counting as unhandled
    try {
      mesh = await startMesh({ ...(await shopMeshFiles()), readyTimeoutMs: 90_000 });
    } finally {
      browser = await launching;
    }
    traffic = trafficLoop(mesh.ingress['web']!);
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
  });

  after(async () => {
    const sent = await traffic?.stop();
    if (sent !== undefined) console.log(`traffic through the ingress: ${sent.ok} ok, ${sent.failed} failed`);
    await browser?.close();
    await mesh?.stop();
  });

  it('the service graph shows the shop: frontend -> catalog-v1 as sent (the canary route), the subset beside catalog, and orders -> inventory over TCP', async () => {
    await onView('graph', '#/graph', async () => {
      for (const id of SHOP_SERVICES) {
        await page.locator(`[data-testid="graph-node"][data-id="${id}"]`).waitFor({ timeout: UI_TIMEOUT_MS });
      }
      await page.locator('[data-testid="graph-node"][data-kind="ingress"]').first().waitFor({ timeout: UI_TIMEOUT_MS });
      // The demo's canary route sends every catalog request to the subset catalog-v1: the edge
      // goes where frontend sent it, and the subset node hangs off catalog, whose replicas serve it.
      const edge = page.locator('[data-testid="graph-edge"][data-source="default/frontend"][data-target="default/catalog-v1"]');
      await edge.waitFor({ timeout: UI_TIMEOUT_MS });
      await until('a request rate on the edge frontend -> catalog-v1', async () => Number(await edge.getAttribute('data-rps')) > 0);
      const label = await edge.locator('[data-testid="graph-edge-label"]').textContent();
      assert.match(label ?? '', /\d rps/, `edge label: ${label}`);
      assert.match(label ?? '', /\d%/, `edge label: ${label}`);
      assert.equal(await edge.getAttribute('class'), 'edge edge-ok', 'every request succeeds, so the edge is green');
      const subset = page.locator('[data-testid="graph-node"][data-id="default/catalog-v1"]');
      assert.equal(await subset.getAttribute('data-subset-of'), 'default/catalog');
      assert.match((await subset.textContent()) ?? '', /subset of catalog/);
      await until('catalog-v1 serving requests', async () => (await subset.getAttribute('data-health')) === 'ok');
      assert.equal(await page.locator('[data-testid="graph-subset-link"][data-id="default/catalog-v1"]').count(), 1);
      assert.equal(await page.locator('[data-testid="graph-edge"][data-source="default/frontend"][data-target="default/catalog"]').count(), 0, 'routed traffic is drawn once');
      const tcp = page.locator('[data-testid="graph-edge"][data-protocol="tcp"][data-source="default/orders"][data-target="default/inventory"]');
      await tcp.waitFor({ timeout: UI_TIMEOUT_MS });
      assert.equal(await tcp.getAttribute('class'), 'edge edge-tcp', 'TCP has no success rate: a neutral edge');
      assert.match((await tcp.locator('[data-testid="graph-edge-label"]').textContent()) ?? '', /conn\/s/);
    });
  });

  it('the catalog chart gains points while traffic flows', async () => {
    await onView('service-catalog', '#/services/default/catalog', async () => {
      const chart = '[data-testid="chart-rps"]';
      await page.locator(chart).waitFor({ timeout: UI_TIMEOUT_MS });
      await until('a request rate on the catalog chart', async () => Number(await attr(page, chart, 'data-last')) > 0);
      const first = { points: await attr(page, chart, 'data-points'), lastT: await attr(page, chart, 'data-last-t') };
      assert.ok(Number(first.points) > 0, `points: ${first.points}`);
      // A new step ends, the page polls, and the chart's newest point moves on.
      await until(`a newer point than ${first.lastT} on the catalog chart`, async () => (await attr(page, chart, 'data-last-t')) !== first.lastT && Number(await attr(page, chart, 'data-last')) > 0);
      assert.equal(await page.locator('[data-testid="chart-rps"] canvas').count(), 1, 'uPlot drew the chart');
      for (const id of ['chart-success', 'chart-latency']) assert.equal(await page.locator(`[data-testid="${id}"]`).count(), 1, id);
    });
  });

  it('the catalog page answers "would a request get through?" as trellis why does', async () => {
    await onView('service-catalog-why', '#/services/default/catalog', async () => {
      await page.locator('[data-testid="why-panel"]').waitFor({ timeout: UI_TIMEOUT_MS });
      await page.locator('[data-testid="why-source"]').selectOption('default/frontend');
      await page.locator('[data-testid="why-path"]').fill('/products');
      await page.locator('[data-testid="why-ask"]').click();
      const answer = page.locator('[data-testid="why-answer"]');
      await answer.waitFor({ timeout: UI_TIMEOUT_MS });
      assert.equal(await answer.getAttribute('data-outcome'), 'allowed');
      const text = await answer.innerText();
      assert.match(text, /HTTPRoute default\/catalog-canary rule 0 matches/);
      assert.match(text, /default\/catalog-v1:http/);
      const cli = await mesh!.cli(['why', 'frontend', 'catalog', '--path', '/products', '-o', 'json']);
      assert.equal(cli.code, 0, cli.stderr);
      const steps = (JSON.parse(cli.stdout) as { explanation: string[] }).explanation;
      for (const s of steps.slice(1)) assert.ok(text.includes(s), `the page shows the CLI's step: ${s}`);
    });
  });

  it('the routes view lists the canary route with its backend, and its charts fill under traffic', async () => {
    await onView('routes', '#/routes', async () => {
      const row = page.locator('[data-testid="route-row"][data-route="default/catalog-canary"]').first();
      await row.waitFor({ timeout: UI_TIMEOUT_MS });
      assert.match((await row.textContent()) ?? '', /catalog-v1/, 'the row names the backend the route sent to');
      await row.locator('a').first().click();
      await page.locator('[data-testid="golden-charts"][data-kind="route"]').waitFor({ timeout: UI_TIMEOUT_MS });
      await until('a request rate on the route chart', async () => Number(await attr(page, '[data-testid="chart-rps"]', 'data-last')) > 0);
    });
  });

  it('tap on the frontend shows a request this test sent, path and query as sent', async () => {
    const probe = `/?tap-probe=${randomUUID()}`;
    await onView('tap', '#/tap', async () => {
      await page.locator('[data-testid="tap-workload"] option[data-workload="default/frontend"]').waitFor({ state: 'attached', timeout: UI_TIMEOUT_MS });
      await page.selectOption('[data-testid="tap-workload"]', 'default/frontend');
      await page.locator('[data-testid="tap-state"][data-status="live"]').waitFor({ timeout: UI_TIMEOUT_MS });
      const row = page.locator(`[data-testid="tap-row"][data-path="${probe}"]`);
      // The tap shows requests that finish after it attached: send the probe until it is seen.
      const deadline = Date.now() + UI_TIMEOUT_MS;
      while ((await row.count()) === 0) {
        assert.ok(Date.now() < deadline, `no tap row for ${probe}`);
        const res = await request(`${mesh!.ingress['web']}${probe}`);
        await res.body.dump();
        assert.equal(res.statusCode, 200);
        await sleep(500);
      }
      const text = await row.first().textContent();
      assert.ok(text?.includes(probe), text ?? '');
      assert.equal(await row.first().getAttribute('data-status'), '200');
      // The tap table grows without end under traffic: keep the first screen only.
    }, false);
  });

  it('the traces view lists traces and draws one as a waterfall', async () => {
    await onView('traces', '#/traces', async () => {
      // The newest trace opens by itself, but may still be missing late spans: pick one that
      // crossed several hops (a page load: ingress, frontend, catalog) and open it.
      const links = page.locator('[data-testid="trace-link"]');
      const traceId = await until('a trace of at least 3 spans in the list', async () => {
        for (const link of await links.all()) {
          if (Number(await link.getAttribute('data-span-count')) >= 3) return (await link.getAttribute('data-trace-id')) ?? false;
        }
        return false;
      });
      await page.locator(`[data-testid="trace-link"][data-trace-id="${traceId}"]`).click();
      const waterfall = page.locator('[data-testid="waterfall"]');
      await until(`the waterfall of ${traceId} with 3 spans`, async () => (await page.locator('[data-testid="span-row"]').count()) >= 3);
      assert.ok(Number(await waterfall.getAttribute('data-spans')) >= 3);
      assert.ok(page.url().endsWith(`#/traces/${traceId}`), page.url());
    });
  });

  it('the workloads view lists each replica with its SPIFFE identity and certificate expiry', async () => {
    await onView('workloads', '#/workloads', async () => {
      await page.locator('[data-testid="workload-row"]').first().waitFor({ timeout: UI_TIMEOUT_MS });
      for (const w of SHOP_WORKLOADS) {
        const row = page.locator(`[data-testid="workload-row"][data-node-id="default/${w}/0"]`);
        await row.waitFor({ timeout: UI_TIMEOUT_MS });
        assert.match((await row.getAttribute('data-identity')) ?? '', /^spiffe:\/\/shop\.trellis\.local\/ns\/default\/sa\/[a-z-]+$/, w);
        const notAfter = Date.parse((await row.getAttribute('data-cert-not-after')) ?? '');
        assert.ok(notAfter > Date.now(), `${w}: certificate not after ${notAfter}`);
        assert.match((await row.locator('[data-testid="workload-cert"]').textContent()) ?? '', /expires in \d+ h/, w);
      }
    });
  });

  it('the policies view shows the demo canary route as accepted, and nothing broke in the page', async () => {
    await onView('policies', '#/resources', async () => {
      const row = page.locator('[data-testid="resource-row"][data-kind="HTTPRoute"][data-name="default/catalog-canary"]');
      await row.waitFor({ timeout: UI_TIMEOUT_MS });
      assert.match((await row.textContent()) ?? '', /Accepted/);
      assert.equal(await row.getAttribute('class'), '', 'no failing condition');
    });
    // CSP violations and script errors land here: the dashboard must run clean under its policy.
    assert.deepEqual(problems, []);
  });
});
