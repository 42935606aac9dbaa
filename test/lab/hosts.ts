/**
 * `npm run hosts -- up|down [--prefix P] [--subnet A.B.C] [--dir D]`: the demo shop across
 * three hosts built out of network namespaces on this machine (docs/multi-host.md, "Try it
 * on one machine"). Needs root.
 *
 * up: hosts h1, h2, h3 on a bridge (./netns.ts), then exactly what docs/multi-host.md's
 * walk-through has a user run on three machines (./trellis-lab.ts, each command printed on
 * stderr as typed): a 3-member etcd cluster (a member per host), two control-plane replicas
 * (h1, h2) over it with the CA sealed in etcd and HTTPS on their host addresses, a join token
 * per host made with the admin credential, and on every host `trellis agent --join` running
 * examples/shop-hosts (frontend and the ingress on h1, catalog on h2 and h3, orders and
 * inventory on h3), given both replicas. Once the shop's page comes back through the ingress
 * it prints one line, `ready api=<url>,<url> ingress=<url> hosts=h1:<addr>,h2:<addr>,h3:<addr>`,
 * and returns; the lab keeps running. Run again while it runs: prints the same line. A broken
 * or half-built lab is removed and built again.
 *
 * down: ends every process in the lab's namespaces, removes the namespaces, links and the
 * lab's folder; found by name, so it also cleans up after a crashed `up`. Run again: nothing to do.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { Agent } from 'undici';
import { controlPlaneTlsOptions } from '../../src/identity/control-plane-tls.js';
import { packageRoot } from '../../src/util/paths.js';
import { execOnHost, spawnOnHost } from './host-process.js';
import { canBuildLab, createNetwork, labNamespaces, missingTools, removeNetwork, TOOL_PACKAGES, type Network } from './netns.js';
import { startTrellisLab } from './trellis-lab.js';

const HOSTS = ['h1', 'h2', 'h3'];
/** Hosts running a control-plane replica. */
const CONTROL_PLANE_HOSTS = ['h1', 'h2'];
/** What each host's join token lets it run: the service accounts examples/shop-hosts places there (the ingress's is its name). */
const SERVICE_ACCOUNTS: Record<string, string[]> = {
  h1: ['default/frontend', 'default/web'],
  h2: ['default/catalog'],
  h3: ['default/catalog', 'default/orders', 'default/inventory'],
};
const INGRESS_HOST = 'h1';
const INGRESS_PORT = 8080;
/** Workload rows the API lists for examples/shop-hosts: frontend, the ingress, catalog (once per host: h2, h3), orders, inventory. */
const SHOP_WORKLOADS = 6;

interface LabState {
  prefix: string;
  subnet: string;
  readyLine: string;
  apiUrls: string[];
  ingressUrl: string;
  /** The mesh CA certificate that verifies every replica's API. */
  caFile: string;
}

interface Options {
  prefix: string;
  subnet: string;
  dir: string;
}

const say = (line: string): void => void process.stderr.write(`${line}\n`);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(300);
  }
}

async function getOk(url: string, accept: (body: string) => boolean = () => true, dispatcher?: Agent): Promise<boolean> {
  const res = await request(url, { headersTimeout: 5000, bodyTimeout: 5000, ...(dispatcher !== undefined ? { dispatcher } : {}) });
  const body = await res.body.text();
  return res.statusCode === 200 && accept(body);
}

/** The shop's page, assembled across all three hosts: products over HTTP, an order over gRPC (whose inventory is TCP). */
const shopPageServed = (body: string): boolean => body.includes('over HTTP') && body.includes('over gRPC');

async function readState(dir: string): Promise<LabState | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'lab.json'), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

/** The lab from a previous `up` still runs and serves: its namespaces exist, its APIs and the shop answer. */
async function stillServing(o: Options, state: LabState): Promise<boolean> {
  if (state.prefix !== o.prefix || state.subnet !== o.subnet) return false;
  if ((await labNamespaces(o.prefix)).length !== HOSTS.length) return false;
  let verified: Agent | undefined;
  try {
    verified = new Agent({ connect: controlPlaneTlsOptions([await readFile(state.caFile, 'utf8')]) });
    for (const api of state.apiUrls) if (!(await getOk(`${api}/healthz`, undefined, verified))) return false;
    return await getOk(state.ingressUrl, shopPageServed);
  } catch {
    return false;
  } finally {
    await verified?.close();
  }
}

async function up(o: Options): Promise<number> {
  const state = await readState(o.dir);
  if (state !== null && (await stillServing(o, state))) {
    say(`trellis hosts: lab ${o.prefix} already up (${o.dir})`);
    process.stdout.write(`${state.readyLine}\n`);
    return 0;
  }
  const leftover = await removeNetwork(o.prefix);
  if (leftover.namespaces.length + leftover.links.length > 0) say(`trellis hosts: removed what a previous lab left (${[...leftover.namespaces, ...leftover.links].join(', ')})`);
  await rm(o.dir, { recursive: true, force: true });
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  let net: Network | undefined;
  try {
    net = await createNetwork({ prefix: o.prefix, subnet: o.subnet, hosts: HOSTS });
    const hosts = net.hosts;
    for (const h of hosts) await mkdir(join(o.dir, h.name), { recursive: true });
    say(`trellis hosts: ${hosts.map((h) => `${h.name} ${h.address}`).join(', ')} on bridge ${net.bridge} (${net.bridgeAddress}); logs under ${o.dir}/<host>/`);

    const lab = await startTrellisLab(
      {
        hosts,
        dir: o.dir,
        // Detached: the lab outlives this command; `down` finds every process by namespace.
        spawn: (name, argv, so) => spawnOnHost(hosts.find((h) => h.name === name)!, argv, { cwd: so.cwd ?? join(o.dir, name), logFile: so.logFile, detached: true }),
        exec: (name, argv, eo) => execOnHost(hosts.find((h) => h.name === name)!, argv, eo),
        say,
      },
      {
        meshDir: join(packageRoot, 'examples', 'shop-hosts'),
        trustDomain: 'shop.trellis.local',
        certTtl: '24h',
        etcdHosts: HOSTS,
        controlPlaneHosts: CONTROL_PLANE_HOSTS,
        agentHosts: HOSTS,
        serviceAccounts: (h) => SERVICE_ACCOUNTS[h] ?? [],
        expectWorkloads: SHOP_WORKLOADS,
      },
    );
    const apiUrls = lab.apiUrls;
    const ingressHost = hosts.find((h) => h.name === INGRESS_HOST)!;
    const ingressUrl = `http://${ingressHost.address}:${INGRESS_PORT}`;
    await waitUntil(`the shop's page through ${ingressUrl}`, 60_000, () => getOk(`${ingressUrl}/`, shopPageServed));

    const readyLine = `ready api=${apiUrls.join(',')} ingress=${ingressUrl} hosts=${hosts.map((h) => `${h.name}:${h.address}`).join(',')}`;
    const saved: LabState = { prefix: o.prefix, subnet: o.subnet, readyLine, apiUrls, ingressUrl, caFile: lab.caFile };
    await writeFile(join(o.dir, 'lab.json'), JSON.stringify(saved, null, 2));
    say(
      `trellis hosts: up. Try: curl ${ingressUrl}/ ; TRELLIS_TOKEN=$(cat ${lab.adminTokenFile}) trellis get endpoints --control-plane ${apiUrls[0]} --ca-file ${lab.caFile} ; npm run hosts -- down`,
    );
    process.stdout.write(`${readyLine}\n`);
    return 0;
  } catch (err) {
    say(`trellis hosts: up failed: ${(err as Error).message}`);
    for (const h of HOSTS) {
      for (const f of ['agent.log', 'control-plane.log', 'etcd.log']) {
        const text = await readFile(join(o.dir, h, f), 'utf8').catch(() => null);
        if (text !== null) say(`--- ${h}/${f} (last lines)\n${text.split('\n').slice(-15).join('\n')}`);
      }
    }
    await removeNetwork(o.prefix).catch((e: unknown) => say(`trellis hosts: cleanup failed: ${String(e)}`));
    return 1;
  }
}

async function down(o: Options): Promise<number> {
  const removed = await removeNetwork(o.prefix);
  await rm(o.dir, { recursive: true, force: true });
  say(`trellis hosts: down (ended ${removed.killed.length} processes; removed ${removed.namespaces.length} namespaces, ${removed.links.length} links and ${o.dir})`);
  return 0;
}

const usage = `Usage: npm run hosts -- up|down [--prefix tlab] [--subnet 10.77.0] [--dir DIR]
  up    build hosts h1-h3 out of network namespaces, start a 3-member etcd, two control-plane
        replicas, join an agent on each host and run the demo shop across them; print
        "ready api=<url>,<url> ingress=... hosts=..." (needs root)
  down  end every process of the lab, remove its namespaces, links and folder
Options:
  --prefix P     names of everything the lab makes start with P- (default tlab)
  --subnet A.B.C the lab's /24: bridge A.B.C.1, hosts A.B.C.11-13 (default 10.77.0)
  --dir D        logs and state (default $TMPDIR/trellis-hosts-<prefix>)
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { prefix: { type: 'string' }, subnet: { type: 'string' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  const verb = positionals[0];
  if (values.help === true || (verb !== 'up' && verb !== 'down')) {
    process.stderr.write(usage);
    return values.help === true ? 0 : 2;
  }
  if (!canBuildLab()) {
    say('trellis hosts: needs root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN); try sudo npm run hosts -- ' + verb);
    return 2;
  }
  const missing = verb === 'up' ? missingTools(['ip', 'unshare', 'etcd']) : missingTools(['ip']);
  if (missing.length > 0) {
    say(`trellis hosts: needs ${missing.join(', ')} (Debian: apt-get install ${missing.map((t) => TOOL_PACKAGES[t] ?? t).join(' ')})`);
    return 2;
  }
  const prefix = values.prefix ?? 'tlab';
  const o: Options = { prefix, subnet: values.subnet ?? '10.77.0', dir: values.dir ?? join(tmpdir(), `trellis-hosts-${prefix}`) };
  return verb === 'up' ? up(o) : down(o);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`trellis hosts: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
