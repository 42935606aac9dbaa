/**
 * Trellis across lab hosts, set up the way docs/multi-host.md tells a user to on real
 * machines, with the commands of ./trellis-hosts.ts in this order:
 *
 * 1. an etcd member on each of `etcdHosts` (3: one may fail), one cluster;
 * 2. a seal key made once and copied to each replica host (0600);
 * 3. a control-plane replica on each of `controlPlaneHosts` (2), all with `--store` naming
 *    every member and the seal key: the first creates the CA in etcd (sealed), the others
 *    load it; each serves HTTPS on its host's address;
 * 4. with the admin credential (`<first replica's state dir>/admin-token`, in $TRELLIS_TOKEN)
 *    on the first replica's host: `trellis token create --host <h>` for every agent host,
 *    allowing the service accounts placed there;
 * 5. on every agent host `trellis agent <mesh dir> --join <token file>` given every replica's
 *    address, each host listing a different replica first (so proxies spread over replicas).
 *
 * Used by `npm run hosts` (./hosts.ts, processes that outlive it) and the cross-host tests
 * (test/helpers/mesh-on-hosts.ts, processes the test's lab ends). Both hand in a LabRunner.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { ProxyView, WorkloadView } from '../../src/api/registry.js';
import { controlPlaneClient, type ControlPlaneClient } from '../helpers/mesh.js';
import { memberHealthy, memberNames, planEtcdCluster, type EtcdMember } from './etcd.js';
import type { ExecResult } from './host-process.js';
import type { LabHost } from './netns.js';
import { agentArgv, apiUrlOf, asTyped, controlPlaneArgv, pushUrlOf, sealKeyCommand, tokenCreateArgv } from './trellis-hosts.js';

/** How the lab starts things on hosts: detached for `npm run hosts`, tracked by the test fixture for tests. */
export interface LabRunner {
  hosts: readonly LabHost[];
  /** Folder for the lab's files: `<dir>/<host>/` per host (logs, state dirs, tokens). */
  dir: string;
  spawn(host: string, argv: string[], o: { logFile: string; cwd?: string }): ChildProcess;
  exec(host: string, argv: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string }): Promise<ExecResult>;
  /** Where the commands are shown as typed (`h1$ trellis ...`); default: nowhere. */
  say?(line: string): void;
}

export interface TrellisLabOptions {
  /** Folder with trellis.yaml (placing workloads with `hosts:`) and its apps; every agent runs it. */
  meshDir: string;
  trustDomain: string;
  certTtl?: string;
  /** Hosts with an etcd member (default: the first three). */
  etcdHosts?: string[];
  /** Hosts with a control-plane replica (default: the first two). */
  controlPlaneHosts?: string[];
  /** Hosts with an agent (default: every host). */
  agentHosts?: string[];
  /** What each host's join token lets it run (`<namespace>/<serviceAccount>` patterns). Default: every service account (`*\/*`). */
  serviceAccounts?: (host: string) => string[];
  /** Workload rows (workloads and ingresses, one per agent that runs them) to wait for, every replica ready. */
  expectWorkloads: number;
  logLevel?: string;
  /** How long to wait for the mesh to settle. Default 120 s. */
  settleTimeoutMs?: number;
  /** More `trellis control-plane` flags, the same on every replica (e.g. `--trace-collector URL`). */
  controlPlaneArgs?: string[];
}

export interface LabEtcdMember {
  member: EtcdMember;
  process: ChildProcess;
}

export interface LabReplica {
  host: string;
  address: string;
  apiUrl: string;
  pushUrl: string;
  stateDir: string;
  logFile: string;
  /** Its command line (to start it again after a drill killed it: spawn(host, argv, {logFile})). */
  argv: string[];
  process: ChildProcess;
}

export interface LabAgent {
  host: string;
  stateDir: string;
  logFile: string;
  /** The API URLs it was given, in its order. */
  controlPlaneUrls: string[];
  /** Its command line (a restart uses the saved certificate; the token is not spent again). */
  argv: string[];
  process: ChildProcess;
}

export interface TrellisLab {
  etcd: LabEtcdMember[];
  /** etcd client URLs of every member. */
  etcdEndpoints: string[];
  replicas: LabReplica[];
  agents: Map<string, LabAgent>;
  /** Every replica's API URL, in replica order. */
  apiUrls: string[];
  /** The admin token file (first replica's state dir) and the CA certificate that verifies every replica. */
  adminTokenFile: string;
  caFile: string;
  /** A client of replica `i` (default 0) with the admin credential. */
  client(i?: number): ControlPlaneClient;
  /** Proxies (node ids) connected to some replica, and the replica each is connected to. */
  connectedProxies(): Promise<Map<string, string>>;
  /** The last lines of a file under `<dir>/<host>/`. */
  logTail(host: string, file: string, lines?: number): Promise<string>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function tail(path: string, lines = 40): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `check` until true; a thrown error from `check` ends the wait at once (a process died). */
async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof ProcessDied) throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last !== undefined ? ` (last: ${(last as Error).message})` : ''}`);
    await sleep(300);
  }
}

class ProcessDied extends Error {}

async function alive(child: ChildProcess, what: string, logFile: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) throw new ProcessDied(`${what} exited (${child.exitCode ?? child.signalCode}):\n${await tail(logFile)}`);
}

/** Starts etcd, the replicas and the agents (see the file comment); resolves once the mesh is settled. */
export async function startTrellisLab(r: LabRunner, o: TrellisLabOptions): Promise<TrellisLab> {
  const say = r.say ?? (() => {});
  const names = r.hosts.map((h) => h.name);
  const host = (name: string): LabHost => {
    const h = r.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no lab host ${name}`);
    return h;
  };
  const etcdHosts = o.etcdHosts ?? names.slice(0, 3);
  const cpHosts = o.controlPlaneHosts ?? names.slice(0, 2);
  const agentHosts = o.agentHosts ?? names;
  for (const n of new Set([...etcdHosts, ...cpHosts, ...agentHosts])) await mkdir(join(r.dir, n), { recursive: true });

  // 1. etcd, one member per host.
  const members = planEtcdCluster(etcdHosts.map(host), r.dir, `trellis-${randomBytes(4).toString('hex')}`);
  const etcd: LabEtcdMember[] = [];
  for (const m of members) {
    await mkdir(m.dataDir, { recursive: true, mode: 0o700 });
    say(`${m.host.name}$ ${asTyped(m.argv)}`);
    etcd.push({ member: m, process: r.spawn(m.host.name, m.argv, { logFile: m.logFile, cwd: join(m.dataDir, '..') }) });
  }
  await waitFor('every etcd member healthy', 60_000, async () => {
    for (const e of etcd) await alive(e.process, `etcd on ${e.member.host.name}`, e.member.logFile);
    return (await Promise.all(members.map((m) => memberHealthy(m.clientUrl)))).every(Boolean);
  });
  const listed = await memberNames(members[0]!.clientUrl);
  if (listed.length !== members.length) throw new Error(`etcd lists ${listed.length} members (${listed.join(', ')}), expected ${members.length}`);
  const etcdEndpoints = members.map((m) => m.clientUrl);

  // 2. The seal key: made once, copied to every replica host.
  const sealKey = `${randomBytes(32).toString('base64')}\n`;
  for (const [i, n] of cpHosts.entries()) {
    const file = join(r.dir, n, 'ca-seal.key');
    await writeFile(file, sealKey, { mode: 0o600 });
    say(i === 0 ? `${n}$ ${sealKeyCommand(file)}` : `${n}$ # copy ${join(r.dir, cpHosts[0]!, 'ca-seal.key')} from ${cpHosts[0]} to ${file} (mode 0600)`);
  }

  // 3. The replicas, the first alone (it creates the CA in etcd), then the others.
  const probe = new Agent({ connect: { rejectUnauthorized: false } });
  const replicas: LabReplica[] = [];
  try {
    for (const n of cpHosts) {
      const h = host(n);
      const stateDir = join(r.dir, n, 'control-plane');
      const logFile = join(r.dir, n, 'control-plane.log');
      const argv = [...controlPlaneArgv({ address: h.address, stateDir, trustDomain: o.trustDomain, certTtl: o.certTtl ?? '24h', etcdEndpoints, sealKeyFile: join(r.dir, n, 'ca-seal.key'), ...(o.logLevel !== undefined ? { logLevel: o.logLevel } : {}) }), ...(o.controlPlaneArgs ?? [])];
      say(`${n}$ ${asTyped(argv)}`);
      const child = r.spawn(n, argv, { logFile, cwd: join(r.dir, n) });
      const replica: LabReplica = { host: n, address: h.address, apiUrl: apiUrlOf(h.address), pushUrl: pushUrlOf(h.address), stateDir, logFile, argv, process: child };
      // /healthz only says it is up; who answers is verified by every later call (the CA file).
      await waitFor(`the control plane at ${replica.apiUrl}`, 60_000, async () => {
        await alive(child, `control plane on ${n}`, logFile);
        const res = await request(`${replica.apiUrl}/healthz`, { dispatcher: probe, headersTimeout: 2000, bodyTimeout: 2000 });
        await res.body.dump();
        return res.statusCode === 200;
      });
      replicas.push(replica);
    }
  } finally {
    await probe.close();
  }
  const first = replicas[0]!;
  const apiUrls = replicas.map((x) => x.apiUrl);
  const adminTokenFile = join(first.stateDir, 'admin-token');
  const caFile = join(first.stateDir, 'ca', 'root.crt');
  const adminToken = (await readFile(adminTokenFile, 'utf8')).trim();

  // 4. A join token per agent host, made with the admin credential on the first replica's host.
  const tokenFiles = new Map<string, string>();
  for (const n of agentHosts) {
    const argv = tokenCreateArgv({ apiUrl: first.apiUrl, host: n, serviceAccounts: o.serviceAccounts?.(n) ?? ['*/*'], caFile });
    const file = join(r.dir, n, 'join-token');
    say(`${first.host}$ ${asTyped(argv, { TRELLIS_TOKEN: `$(cat ${adminTokenFile})` })} > ${n}.token`);
    const res = await r.exec(first.host, argv, { env: { ...process.env, TRELLIS_TOKEN: adminToken }, timeoutMs: 30_000 });
    if (res.code !== 0) throw new Error(`trellis token create --host ${n} exited ${res.code}: ${res.stderr}`);
    await writeFile(file, res.stdout.trim() + '\n', { mode: 0o600 });
    if (n !== first.host) say(`${n}$ # copy ${n}.token from ${first.host} to ${file} (mode 0600)`);
    tokenFiles.set(n, file);
  }

  // 5. The agents, each host listing a different replica first.
  const agents = new Map<string, LabAgent>();
  for (const [i, n] of agentHosts.entries()) {
    const h = host(n);
    const stateDir = join(r.dir, n, 'agent');
    const logFile = join(r.dir, n, 'agent.log');
    const controlPlaneUrls = apiUrls.map((_, k) => apiUrls[(i + k) % apiUrls.length]!);
    const argv = agentArgv({ meshDir: o.meshDir, stateDir, controlPlaneUrls, advertiseAddress: h.address, joinTokenFile: tokenFiles.get(n)!, ...(o.logLevel !== undefined ? { logLevel: o.logLevel } : {}) });
    say(`${n}$ ${asTyped(argv)}`);
    agents.set(n, { host: n, stateDir, logFile, controlPlaneUrls, argv, process: r.spawn(n, argv, { logFile, cwd: join(r.dir, n) }) });
  }

  const client = (i = 0): ControlPlaneClient => controlPlaneClient(apiUrls[i] as string, undefined, { stateDir: first.stateDir });
  const clients = apiUrls.map((_, i) => client(i));
  const connectedProxies = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const [i, c] of clients.entries()) {
      const proxies = await c.api<ProxyView[]>('/api/v1/proxies').catch(() => [] as ProxyView[]);
      for (const p of proxies) if (p.connected && !out.has(p.nodeId)) out.set(p.nodeId, apiUrls[i] as string);
    }
    return out;
  };
  await waitFor(`${o.expectWorkloads} workloads ready on ${agentHosts.join(', ')}, every proxy connected to a replica`, o.settleTimeoutMs ?? 120_000, async () => {
    for (const a of agents.values()) await alive(a.process, `agent on ${a.host}`, a.logFile);
    const workloads = await clients[0]!.api<WorkloadView[]>('/api/v1/workloads');
    if (workloads.length < o.expectWorkloads) return false;
    if (!workloads.every((w) => w.replicas.length > 0 && w.replicas.every((x) => x.state === 'ready'))) return false;
    const nodes = workloads.flatMap((w) => w.replicas.map((x) => x.nodeId));
    const connected = await connectedProxies();
    return nodes.every((id) => connected.has(id));
  });

  return {
    etcd,
    etcdEndpoints,
    replicas,
    agents,
    apiUrls,
    adminTokenFile,
    caFile,
    client,
    connectedProxies,
    logTail: (h, file, lines) => tail(join(r.dir, h, file), lines),
  };
}
