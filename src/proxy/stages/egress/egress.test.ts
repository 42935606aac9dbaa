import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExternalServiceConfig } from '../../../api/snapshot.js';
import { silentLogger } from '../../../telemetry/logger.js';
import { ManualClock } from '../../clock/manual-clock.js';
import { EgressTable } from '../../egress/egress-table.js';
import type { ListenerSite } from '../../pipeline/exchange.js';
import { CountingCounters } from '../../policy/test-helpers.js';
import { RecordingHandler, RecordingService, exchange } from '../../testing/stage-harness.js';
import { EgressStage } from './egress.js';

const ME = 'spiffe://td/ns/shop/sa/checkout';
const site = (mode: 'allowAny' | 'registryOnly'): ListenerSite => ({ name: 'egress-web', direction: 'outbound', ingress: false, cluster: 'egress/unregistered:80', egress: { port: 80, mode } });

const SERVICES: ExternalServiceConfig[] = [
  { namespace: 'shop', name: 'docs', hostname: 'docs.example', port: 80, protocol: 'http', endpoints: [{ host: '127.0.0.1', port: 8080 }] },
  { namespace: 'shop', name: 'any-cdn', hostname: '*.cdn.example', port: 80, protocol: 'http' },
  { namespace: 'shop', name: 'secure', hostname: 'docs.example', port: 443, protocol: 'tls' },
  {
    namespace: 'shop',
    name: 'batch-only',
    hostname: 'batch.example',
    port: 80,
    protocol: 'http',
    policy: {
      port: 'egress',
      defaultAction: 'deny',
      defaultFrom: 'shop/batch-only',
      authorization: [{ namespace: 'shop', name: 'batch-only', action: 'ALLOW', rules: [{ from: [{ source: { serviceAccounts: ['batch'] } }] }] }],
      rateLimits: [],
    },
  },
  {
    namespace: 'shop',
    name: 'limited',
    hostname: 'limited.example',
    port: 80,
    protocol: 'http',
    policy: { port: 'egress', defaultAction: 'allow', defaultFrom: 'egress', authorization: [], rateLimits: [{ namespace: 'shop', name: 'two-per-second', mode: 'enforce', total: { requestsPerSecond: 2, burst: 2 } }] },
  },
];

function setup(mode: 'allowAny' | 'registryOnly'): { stage: EgressStage; next: RecordingService; counters: CountingCounters } {
  const counters = new CountingCounters();
  const table = new EgressTable(counters);
  const p = table.prepare(SERVICES);
  assert.ok(p.ok, p.ok ? '' : p.problems.join('; '));
  p.commit();
  const next = new RecordingService();
  const stage = new EgressStage({ table, port: 80, mode, identity: ME, logger: silentLogger(), clock: new ManualClock() }, next);
  return { stage, next, counters };
}

function call(stage: EgressStage, host: string | undefined, path = '/'): { h: RecordingHandler; ex: ReturnType<typeof exchange> } {
  const ex = exchange({ site: site('registryOnly'), authority: host, headers: host === undefined ? [] : ['host', host], target: path });
  ex.path = path;
  const h = new RecordingHandler();
  stage.call(ex, h);
  return { h, ex };
}

test('a declared host goes on with the ExternalService as backend and its endpoints as the target; Host is compared without port, case or trailing dot', () => {
  const { stage, next } = setup('registryOnly');
  const { ex } = call(stage, 'DOCS.example.:80');
  assert.equal(next.calls.length, 1);
  assert.equal(ex.backend, 'shop/docs:80');
  assert.deepEqual(ex.egress, { addresses: [{ host: '127.0.0.1', port: 8080 }] });
});

test('a wildcard matches one or more labels, not the bare name; without endpoints the host asked for is dialed', () => {
  const { stage, next } = setup('registryOnly');
  const { ex } = call(stage, 'img.eu.cdn.example');
  assert.equal(ex.backend, 'shop/any-cdn:80');
  assert.deepEqual(ex.egress, { addresses: [{ host: 'img.eu.cdn.example', port: 80 }] });
  const bare = call(stage, 'cdn.example');
  assert.equal(bare.h.local.reason, 'egress-denied');
  assert.equal(next.calls.length, 1);
});

test('registryOnly: undeclared hosts, a TLS-only name, a missing Host and hostile hosts get 403 egress-denied', () => {
  const { stage, next } = setup('registryOnly');
  for (const host of ['evil.example', '127.0.0.1:80', '[::1]:80', '', undefined, 'docs.example@evil.example', 'docs.example\r\nx: y']) {
    const { h } = call(stage, host);
    assert.equal(h.local.status, 403, String(host));
    assert.equal(h.local.reason, 'egress-denied', String(host));
  }
  assert.equal(next.calls.length, 0);
});

test('allowAny: an undeclared host is sent on as asked (destination label unregistered), a missing Host is still refused', () => {
  const { stage, next } = setup('allowAny');
  const { ex } = call(stage, 'elsewhere.example:80');
  assert.equal(next.calls.length, 1);
  assert.equal(ex.backend, undefined, 'metrics use the listener cluster: egress/unregistered');
  assert.deepEqual(ex.egress, { addresses: [{ host: 'elsewhere.example', port: 80 }] });
  assert.equal(call(stage, undefined).h.local.reason, 'egress-denied');
});

test("authorization with the caller's own identity: refused callers get 403 unauthorized, counted under the policy's default", () => {
  const { stage, next, counters } = setup('allowAny');
  const { h, ex } = call(stage, 'batch.example');
  assert.equal(h.local.status, 403);
  assert.equal(h.local.reason, 'unauthorized');
  assert.equal(ex.backend, 'shop/batch-only:80', 'the refusal is recorded against the ExternalService');
  assert.equal(ex.policy, 'default');
  assert.equal(next.calls.length, 0);
  assert.equal(counters.get('default|denied'), 1);
});

test('rate limits of an ExternalService: 429 rate-limited with retry-after once the burst is used', () => {
  const { stage, next } = setup('registryOnly');
  call(stage, 'limited.example');
  call(stage, 'limited.example');
  const { h, ex } = call(stage, 'limited.example');
  assert.equal(next.calls.length, 2);
  assert.equal(h.local.status, 429);
  assert.equal(h.local.reason, 'rate-limited');
  assert.equal(ex.rateLimit, 'shop/two-per-second');
  const headers = h.local.headers ?? [];
  assert.equal(headers[headers.indexOf('retry-after') + 1], '1');
});

test('the egress table refuses a malformed snapshot entry with its path, and changes nothing', () => {
  const table = new EgressTable();
  const bad = table.prepare([{ namespace: 'shop', name: 'x', hostname: '10.0.0.1', port: 80, protocol: 'http' }, { namespace: 'shop', name: 'y', hostname: 'ok.example', port: 0, protocol: 'udp' }]);
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.ok ? [] : bad.problems, ['egress[0]: hostname: IP addresses are not hostnames (Gateway API)', 'egress[1]: port: expected 1..65535']);
  assert.equal(table.lookup(80, 'http', 'ok.example'), null);
});
