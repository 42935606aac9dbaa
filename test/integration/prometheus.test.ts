/**
 * Golden metrics end to end: known traffic through a real mesh (app a -> a's proxy -> b's
 * proxy -> app b), exact counts and bucket membership on both proxies' /metrics, then a real
 * Prometheus (Debian's package, /usr/bin/prometheus) configured by `trellis prometheus-config`
 * discovers the proxies through the control plane, scrapes them, and answers PromQL.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import type { PrometheusTargetGroup } from '../../src/api/registry.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { freePort, runCli, waitFor } from '../helpers/proc.js';

const PROMETHEUS = '/usr/bin/prometheus';
const OK = 20;
const FAILED = 5;
/** One slow POST: http-echo waits 300 ms, so its sample is above the 0.25 s bucket bound. */
const DELAY_MS = 300;

async function getText(url: string): Promise<string> {
  const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url} -> ${res.statusCode}: ${text.slice(0, 200)}`);
  return text;
}

/** The value of the one series of `name` with exactly these labels (in exposition order), or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function labelsOf(o: Record<string, string>): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
}

describe('metrics: golden request metrics and a real Prometheus', () => {
  const pair = usePairMesh({ name: 'it-prometheus', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'] });
  let prometheus: ChildProcess | undefined;
  let promDir: string | undefined;
  let promLog = '';

  after(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise<void>((resolve) => prometheus!.once('exit', () => resolve()));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus!.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (promDir !== undefined) await rm(promDir, { recursive: true, force: true });
  });

  const outbound = labelsOf({
    direction: 'outbound',
    src_namespace: 'default',
    src_workload: 'a',
    src_service_account: 'a',
    dst_namespace: 'default',
    dst_service: 'b',
    route: '',
  });
  const inbound = labelsOf({
    direction: 'inbound',
    src_namespace: 'default',
    src_workload: '',
    src_service_account: 'a',
    dst_namespace: 'default',
    dst_service: 'b',
    route: '',
  });
  const ok = (base: string, method = 'GET'): string => `${base},method="${method}",status_code="200",grpc_status="",reason=""`;
  const failed = (base: string): string => `${base},method="GET",status_code="503",grpc_status="",reason=""`;

  let adminOf: (workload: string) => string = () => '';

  it('counts exact requests by source, destination, method and status on both proxies', async () => {
    const base = `http://127.0.0.1:${pair.outPort}`;
    for (let i = 0; i < OK; i++) {
      const r = await request(`${base}/ok/${i}`, { dispatcher: pair.agent });
      await r.body.text();
      assert.equal(r.statusCode, 200);
    }
    for (let i = 0; i < FAILED; i++) {
      const r = await request(`${base}/status/503`, { dispatcher: pair.agent });
      await r.body.text();
      assert.equal(r.statusCode, 503);
    }
    const slow = await request(`${base}/delay/${DELAY_MS}`, { method: 'POST', body: 'x', dispatcher: pair.agent });
    await slow.body.text();
    assert.equal(slow.statusCode, 200);

    const targets = await pair.mesh.api<PrometheusTargetGroup[]>('/api/v1/prometheus/targets');
    adminOf = (workload) => {
      const g = targets.find((t) => t.labels.trellis_workload === workload);
      assert.ok(g !== undefined, `no target for ${workload} in ${JSON.stringify(targets)}`);
      return `http://${g.targets[0]!}`;
    };
    assert.deepEqual(targets.map((t) => t.labels.trellis_workload).sort(), ['a', 'b']);

    // The last exchange is recorded as its response ends; poll until it is in.
    const aText = await waitFor('the slow POST in a\'s metrics', async () => {
      const t = await getText(`${adminOf('a')}/metrics`);
      return sample(t, 'trellis_requests_total', ok(outbound, 'POST')) === 1 && t;
    }, { timeoutMs: 10_000 });
    assert.equal(sample(aText, 'trellis_requests_total', ok(outbound)), OK, aText);
    assert.equal(sample(aText, 'trellis_requests_total', failed(outbound)), FAILED);
    assert.equal(sample(aText, 'trellis_request_duration_seconds_count', ok(outbound)), OK);
    // The slow request: above 0.25 s (the delay is 300 ms), so not in that bucket; in +Inf.
    assert.equal(sample(aText, 'trellis_request_duration_seconds_bucket', `${ok(outbound, 'POST')},le="0.25"`), 0);
    assert.equal(sample(aText, 'trellis_request_duration_seconds_bucket', `${ok(outbound, 'POST')},le="+Inf"`), 1);
    assert.ok(sample(aText, 'trellis_request_duration_seconds_sum', ok(outbound, 'POST'))! > DELAY_MS / 1000);
    assert.equal(sample(aText, 'trellis_retries_total', outbound), 0);
    assert.equal(sample(aText, 'trellis_cluster_requests_active', 'cluster="default/b:http"'), 0);
    assert.equal(sample(aText, 'trellis_cluster_requests_pending', 'cluster="default/b:http"'), 0);
    assert.equal(sample(aText, 'trellis_endpoint_ejected', 'cluster="default/b:http",endpoint="b/0"'), 0);
    assert.equal(sample(aText, 'trellis_endpoint_healthy', 'cluster="default/b:http",endpoint="b/0"'), 1);

    // b's inbound side saw the same requests, from a's identity (a service account).
    const bText = await waitFor('the slow POST in b\'s metrics', async () => {
      const t = await getText(`${adminOf('b')}/metrics`);
      return sample(t, 'trellis_requests_total', ok(inbound, 'POST')) === 1 && t;
    }, { timeoutMs: 10_000 });
    assert.equal(sample(bText, 'trellis_requests_total', ok(inbound)), OK, bText);
    assert.equal(sample(bText, 'trellis_requests_total', failed(inbound)), FAILED);
    assert.equal(sample(bText, 'trellis_request_duration_seconds_bucket', `${ok(inbound, 'POST')},le="0.25"`), 0);
  });

  const skip = existsSync(PROMETHEUS) ? false : `${PROMETHEUS} not installed (apt-get install prometheus; .ci/run installs it)`;
  it('a real Prometheus discovers the proxies through the control plane and answers PromQL with the sent counts', { skip }, async () => {
    promDir = await mkdtemp(join(tmpdir(), 'trellis-prom-'));
    const gen = await runCli(['prometheus-config', '--control-plane', pair.mesh.apiUrl, '--scrape-interval', '1s'], { env: pair.mesh.cliEnv() });
    assert.equal(gen.code, 0, gen.stderr);
    const configFile = join(promDir, 'prometheus.yml');
    await writeFile(configFile, gen.stdout);
    const port = await freePort();
    const promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.setEncoding('utf8').on('data', (d: string) => (promLog = (promLog + d).slice(-4000)));

    const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
      const text = await getText(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = JSON.parse(text) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      assert.equal(body.status, 'success');
      return body.data.result;
    };
    const scalar = async (q: string): Promise<number | undefined> => {
      const r = await query(q);
      return r.length === 1 ? Number(r[0]!.value[1]) : undefined;
    };

    const total = OK + FAILED + 1;
    const sel = 'job="trellis-proxies",direction="outbound",workload="a",dst_service="b"';
    // Bounded wait: discovery refresh, then each target's first scrape (1 s apart, each target
    // on its own offset), so wait until every target has been scraped with the final counts.
    const inboundFailed = 'sum(trellis_requests_total{direction="inbound",workload="b",src_service_account="a",status_code="503"})';
    await waitFor(
      'Prometheus to scrape both proxies and the control plane',
      async () =>
        (await scalar(`sum(trellis_requests_total{${sel}})`)) === total &&
        (await scalar(inboundFailed)) === FAILED &&
        (await scalar('count(up{job="trellis-proxies"} == 1)')) === 2 &&
        (await scalar('up{job="trellis-control-plane"}')) === 1,
      { timeoutMs: 30_000, intervalMs: 500 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nprometheus stderr:\n${promLog}`);
    });

    // Success rate of a -> b as the exact ratio of what was sent.
    const success = await scalar(`sum(trellis_requests_total{${sel},status_code!~"5.."}) / sum(trellis_requests_total{${sel}})`);
    assert.equal(success, (OK + 1) / total);
    // Target labels from service discovery, renamed by the generated config.
    const up = await query('up{job="trellis-proxies"}');
    assert.deepEqual(up.map((r) => [r.metric.workload, r.metric.namespace, r.metric.replica, r.metric.node_id, r.value[1]]).sort(), [
      ['a', 'default', '0', 'default/a/0', '1'],
      ['b', 'default', '0', 'default/b/0', '1'],
    ]);
    assert.equal((await query('up{job="trellis-proxies",trellis_workload!=""}')).length, 0, 'the trellis_ SD labels are dropped');
    // The inbound side, per caller identity, and the slow request's bucket.
    assert.equal(await scalar(inboundFailed), FAILED);
    assert.equal(await scalar(`sum(trellis_request_duration_seconds_bucket{${sel},method="POST",le="0.25"})`), 0);
    assert.equal(await scalar('up{job="trellis-control-plane"}'), 1);
  });
});
