import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { ExternalServiceConfig, InboundPolicyConfig, ProxySnapshot } from '../../api/snapshot.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, id, portOf, runtime, snapshot, testPki, type TestPki } from '../testing/fixtures.js';

// One proxy whose snapshot carries both an inbound policy (its own service's callers) and egress
// with a policy (its own calls out): the two are compiled and applied together, and neither
// decides for the other. The inbound port is PERMISSIVE so a plain client stands in for a caller.

let pki: TestPki;
let app: http.Server;
let outside: http.Server;
let proxy: ProxyRuntime;
let outsidePort = 0;

const listen = async (s: http.Server): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
};

before(async () => {
  pki = await testPki();
  app = http.createServer((_req, res) => res.end('app'));
  outside = http.createServer((_req, res) => res.end('outside'));
  const appPort = await listen(app);
  outsidePort = await listen(outside);
  const at = (port: number): { host: string; port: number } => ({ host: '127.0.0.1', port });
  proxy = await runtime(
    pki,
    bootstrap(
      id('web'),
      [{ name: 'http', protocol: 'http', listen: at(0), app: at(appPort), mtls: 'PERMISSIVE' }],
      [{ name: 'egress-web', protocol: 'http', listen: at(0), cluster: 'egress/unregistered:80', egress: { port: 80, protocol: 'http', mode: 'registryOnly' } }],
    ),
  );
  await proxy.startListeners();
});

after(async () => {
  proxy.close();
  app.close();
  outside.close();
  await pki.cleanup();
});

const inbound = (defaultAction: InboundPolicyConfig['defaultAction']): InboundPolicyConfig => ({ port: 'http', defaultAction, defaultFrom: 'mesh', authorization: [], rateLimits: [] });

/** The ExternalService docs.example, usable only by the service account `allowed`. */
function docs(allowed: string, principals?: string[]): ExternalServiceConfig {
  return {
    namespace: 'default',
    name: 'docs',
    hostname: 'docs.example',
    port: 80,
    protocol: 'http',
    endpoints: [{ host: '127.0.0.1', port: outsidePort }],
    policy: {
      port: 'egress',
      defaultAction: 'deny',
      defaultFrom: 'default/docs-users',
      authorization: [{ namespace: 'default', name: 'docs-users', action: 'ALLOW', rules: [{ from: [{ source: principals !== undefined ? { principals } : { serviceAccounts: [allowed] } }] }] }],
      rateLimits: [],
    },
  };
}

function snap(version: number, extra: Pick<ProxySnapshot, 'inbound' | 'egress'>): ProxySnapshot {
  return { ...snapshot(version, pki, []), ...extra };
}

function get(port: number, host: string): Promise<{ status: number; reason: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.headers['trellis-reason'] as string | undefined, body }));
    });
    req.on('error', reject);
  });
}

test('inbound deny-all and an egress ALLOW for this workload: its calls out pass, its callers are refused', async () => {
  assert.equal(proxy.applySnapshot(snap(1, { inbound: [inbound('deny')], egress: [docs('web')] })), null);
  const out = await get(portOf(proxy, 'egress-web', 'outbound'), 'docs.example');
  assert.equal(out.status, 200);
  assert.equal(out.body, 'outside');
  const caller = await get(portOf(proxy, 'http', 'inbound'), 'web');
  assert.equal(caller.status, 403);
  assert.equal(caller.reason, 'unauthorized');
});

test('inbound allow and an egress ALLOW for another workload: callers pass, its calls out are refused', async () => {
  assert.equal(proxy.applySnapshot(snap(2, { inbound: [inbound('allow')], egress: [docs('batch')] })), null);
  const out = await get(portOf(proxy, 'egress-web', 'outbound'), 'docs.example');
  assert.equal(out.status, 403);
  assert.equal(out.reason, 'unauthorized');
  const caller = await get(portOf(proxy, 'http', 'inbound'), 'web');
  assert.equal(caller.status, 200);
  assert.equal(caller.body, 'app');
});

test('a snapshot with a malformed egress policy is rejected whole: the inbound policy it carried is not applied either', async () => {
  const rejected = proxy.applySnapshot(snap(3, { inbound: [inbound('deny')], egress: [docs('web', ['spiffe://td/*/x'])] }));
  assert.match(rejected ?? '', /snapshot rejected/);
  const caller = await get(portOf(proxy, 'http', 'inbound'), 'web');
  assert.equal(caller.status, 200, 'still the allow of snapshot 2');
  const out = await get(portOf(proxy, 'egress-web', 'outbound'), 'docs.example');
  assert.equal(out.status, 403, "still snapshot 2's egress policy");
});
