/**
 * `npm run hosts -- up|down` (test/lab/hosts.ts) as a user runs it, on a prefix and subnet of
 * its own: up builds h1-h3, a 3-member etcd cluster, two control-plane replicas over it (HTTPS
 * on h1's and h2's addresses, the CA sealed in etcd), joins an agent on every host with a
 * token and runs the shop across the hosts, and prints the ready line whose every URL answers
 * from the root namespace; up again prints the same line; down ends every process and removes
 * every namespace, link and file; down again has nothing to do.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { controlPlaneClient } from '../helpers/mesh.js';
import type { EndpointView, WorkloadView } from '../../src/api/registry.js';
import { memberHealthy, memberNames } from '../lab/etcd.js';
import { labLinks, labNamespaces, namespacePids, removeNetwork } from '../lab/netns.js';
import { freeSubnet, labSkipReason, testPrefix } from '../helpers/netns-lab.js';
import { pidAlive, runNodeScript, waitFor, type CliResult } from '../helpers/proc.js';

const hostsScript = fileURLToPath(new URL('../lab/hosts.js', import.meta.url));
// Named after this process, so a later run sweeps the lab if this one dies before its cleanup.
const PREFIX = testPrefix();

/** `npm run hosts -- <args>` as the script it runs (4 min: `up` builds the whole lab). */
function hosts(args: string[]): Promise<CliResult> {
  return runNodeScript(hostsScript, args, { timeoutMs: 240_000 }, `hosts ${args.join(' ')}`);
}

async function getText(url: string): Promise<{ status: number; body: string }> {
  const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('npm run hosts', { skip: labSkipReason(['etcd']) }, () => {
  let dir = '';
  let SUBNET = '';
  const opts = (): string[] => ['--prefix', PREFIX, '--subnet', SUBNET, '--dir', dir];

  after(async () => {
    // Whatever happened above, nothing of the lab stays.
    await removeNetwork(PREFIX).catch(() => undefined);
    if (dir !== '') await rm(dirname(dir), { recursive: true, force: true });
  });

  it('up, up again, down, down again', async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'trellis-hosts-it-')), 'lab');
    SUBNET = await freeSubnet();
    const first = await hosts(['up', ...opts()]);
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stdout: ${first.stdout}`);
    const m = /^ready api=(\S+) ingress=(\S+) hosts=h1:(\S+),h2:(\S+),h3:(\S+)$/.exec(lines[0]!);
    assert.ok(m, `ready line: ${lines[0]}`);
    const [, apis, ingress, h1, h2, h3] = m as unknown as [string, string, string, string, string, string];
    assert.deepEqual([h1, h2, h3], [`${SUBNET}.11`, `${SUBNET}.12`, `${SUBNET}.13`]);

    // Every URL answers from here (the root namespace): both replicas over HTTPS, verified
    // against the mesh CA, with the admin credential `up` left in the first replica's state dir.
    const apiUrls = apis.split(',');
    assert.deepEqual(apiUrls, [`https://${h1}:15000`, `https://${h2}:15000`]);
    const clients = apiUrls.map((api) => controlPlaneClient(api, undefined, { stateDir: join(dir, 'h1', 'control-plane') }));
    for (const c of clients) assert.equal((await c.api<{ trustDomain: string }>('/api/v1/version')).trustDomain, 'shop.trellis.local', c.apiUrl);
    const page = await getText(`${ingress}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Products \(from catalog\/\d over HTTP\)/);
    assert.match(page.body, /Order \(from orders\/0 over gRPC\)/);
    // Reads are not open to anyone who can reach the port.
    assert.equal((await request(`${apiUrls[1]}/api/v1/workloads`, { dispatcher: clients[1]!.dispatcher() })).statusCode, 401);

    // Spread as asked, each host's agent joined under its host name, endpoints at host
    // addresses; both replicas say the same (one etcd).
    for (const c of clients) {
      const workloads = await c.api<WorkloadView[]>('/api/v1/workloads');
      const placed = workloads.map((w) => `${w.name}@${w.agentId}`).sort();
      assert.deepEqual(placed, ['catalog@h2', 'catalog@h3', 'frontend@h1', 'inventory@h3', 'orders@h3', 'web@h1'], c.apiUrl);
      const endpoints = await c.api<EndpointView[]>('/api/v1/endpoints');
      const at = (service: string): string[] => [...new Set(endpoints.filter((e) => e.service === service).map((e) => e.host))].sort();
      assert.deepEqual(at('catalog'), [h2, h3]);
      assert.deepEqual(at('frontend'), [h1]);
      assert.deepEqual(at('orders'), [h3]);
      assert.deepEqual(at('inventory'), [h3]);
    }
    // Every host joined with its own token, each spent once, allowing what the shop places there.
    const hostsJoined = await clients[0]!.api<{ host: string; serviceAccounts: string[] }[]>('/api/v1/hosts');
    assert.deepEqual(
      hostsJoined.map((h) => `${h.host}:${h.serviceAccounts.join(',')}`),
      ['h1:default/frontend,default/web', 'h2:default/catalog', 'h3:default/catalog,default/orders,default/inventory'],
    );
    // The token named both replicas (made on h1, it lists h2's replica too): the joined host
    // keeps both, so it can renew through either.
    const saved = JSON.parse(await readFile(join(dir, 'h3', 'agent', 'host', 'host.json'), 'utf8')) as { host: string; apiUrls: string[] };
    assert.deepEqual(saved, { ...saved, host: 'h3', apiUrls: apiUrls });
    const joinTokens = await clients[1]!.api<{ host: string; usedAt: string | null }[]>('/api/v1/join-tokens');
    assert.deepEqual(joinTokens.map((t) => `${t.host}:${t.usedAt === null ? 'unused' : 'used'}`).sort(), ['h1:used', 'h2:used', 'h3:used']);

    // A real 3-member etcd cluster, one member per host.
    for (const h of [h1, h2, h3]) assert.ok(await memberHealthy(`http://${h}:2379`), `etcd on ${h}`);
    assert.deepEqual(await memberNames(`http://${h1}:2379`), ['etcd-h1', 'etcd-h2', 'etcd-h3']);

    const again = await hosts(['up', ...opts()]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), lines[0], 'the running lab is kept and its line printed again');

    const namespaces = await labNamespaces(PREFIX);
    assert.equal(namespaces.length, 3);
    const pids: number[] = [];
    for (const ns of namespaces) pids.push(...(await namespacePids(ns)));
    assert.ok(pids.length >= 3 + 2 + 3 + 6 * 2, `etcd, two control planes, agents, proxies and apps run (${pids.length} processes)`);

    const down = await hosts(['down', ...opts()]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await labNamespaces(PREFIX), []);
    assert.deepEqual(await labLinks(PREFIX), []);
    await waitFor('every process of the lab gone', () => pids.every((p) => !pidAlive(p)), { timeoutMs: 10_000 });
    assert.equal(existsSync(dir), false, 'its folder is removed');

    const downAgain = await hosts(['down', ...opts()]);
    assert.equal(downAgain.code, 0, downAgain.stderr);
  });
});
