/**
 * The fixture of the fault drills (test/integration/hosts-drills-*.test.ts): one lab of three
 * network-namespace hosts per test file, shared by its tests, with the mesh started the way a
 * user starts it on real machines (test/helpers/mesh-on-hosts.ts). Built in before(), torn
 * down in after() whether the tests passed or not; if the test process itself dies (SIGTERM
 * from the runner's timeout, SIGINT), an exit hook removes the lab's namespaces and ends their
 * processes synchronously, and a later run sweeps what a SIGKILLed one left (netns-lab.ts).
 *
 * The drills play an app from the root namespace: a caller's outbound listeners are bound on
 * h1's address (the one thing moved off loopback for the test), so a load loop here goes
 * through h1's proxy and across the bridge like the app's own requests would.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Agent } from 'undici';
import type { ProxyView } from '../../src/api/registry.js';
import { describeFailures, loadLoop, type LoadLoop, type LoadStats, type Outcome } from './load.js';
import { httpAgent, writeMeshDir, type MeshDir } from './mesh.js';
import { startMeshOnHosts, type MeshOnHosts, type MeshOnHostsOptions } from './mesh-on-hosts.js';
import { createNetnsLab, type NetnsLab } from './netns-lab.js';
import { waitFor } from './proc.js';

export interface DrillLabOptions extends Omit<MeshOnHostsOptions, 'meshDir' | 'controlPlaneArgs'> {
  /** More `trellis control-plane` flags for every replica, given each host's address by name. */
  controlPlaneArgs?: (address: (host: string) => string) => string[];
  hosts: string[];
  /** The mesh file, given each host's address by name. */
  meshYaml: (address: (host: string) => string) => string;
}

export interface DrillLab {
  lab: NetnsLab;
  mesh: MeshOnHosts;
  meshDir: MeshDir;
  /** A host's address on the bridge. */
  address(host: string): string;
  /** One keep-alive client shared by the file's tests. */
  http: Agent;
  /**
   * `trellis apply -f` (admin credential) through replica `replica` (0-based, default 0);
   * resolves with the newest version once every connected proxy acknowledged what it was given.
   */
  apply(yaml: string, replica?: number): Promise<number>;
  /** Deletes every resource (through the CLI), waits until the proxies have the result. */
  clear(): Promise<void>;
  /** Sets or clears a test/fixtures/http-echo.mjs flag of one replica (`fail`, `unhealthy`). */
  flag(workload: string, replica: number, kind: string, on: boolean): Promise<void>;
  /** The last lines of a log of a host (`agent.log`, `control-plane.log`, ...), for failure messages. */
  logTail(host: string, file: string): Promise<string>;
}

/** Synchronous, best-effort removal of a lab (for process exit, where nothing async runs). */
function removeLabNow(prefix: string): void {
  try {
    const names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.startsWith(`${prefix}-`));
    for (const ns of names) {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter((l) => /^\d+$/.test(l.trim()));
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
    execFileSync('ip', ['link', 'del', `${prefix}-br`], { stdio: 'ignore' });
  } catch {
    // best effort: the next run's sweep (sweepDeadTestLabs) finishes the job
  }
}

/**
 * Some proxy was given a version of at least `atLeast` and every connected proxy acknowledged
 * the newest one it was given (a change leaves the snapshots it does not affect at their version).
 */
export async function proxiesAt(api: <T>(path: string) => Promise<T>, atLeast: number, timeoutMs = 30_000): Promise<number> {
  return waitFor(
    `every connected proxy to acknowledge config version >= ${atLeast}`,
    async () => {
      const proxies = await api<ProxyView[]>('/api/v1/proxies');
      const connected = proxies.filter((p) => p.connected);
      if (connected.length === 0) return undefined;
      const top = Math.max(...connected.map((p) => p.version ?? 0));
      if (top < atLeast) return undefined;
      return connected.every((p) => p.ackedVersion === p.version) ? top : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** The newest version any proxy has been given. */
export async function newestVersion(api: <T>(path: string) => Promise<T>): Promise<number> {
  const proxies = await api<ProxyView[]>('/api/v1/proxies');
  return Math.max(0, ...proxies.map((p) => p.version ?? 0));
}

/** Inside a describe(): the lab and mesh before its tests, everything removed after them. */
export function useDrillLab(o: DrillLabOptions): { get(): DrillLab } {
  let drill: DrillLab | undefined;
  let lab: NetnsLab | undefined;
  let meshDir: MeshDir | undefined;
  let http: Agent | undefined;
  let seq = 0;
  const onExit = (): void => {
    if (lab !== undefined) removeLabNow(lab.prefix);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    onExit();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };

  before(async () => {
    process.once('exit', onExit);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    lab = await createNetnsLab({ hosts: o.hosts });
    const l = lab;
    const address = (h: string): string => l.host(h).address;
    meshDir = await writeMeshDir({ meshYaml: o.meshYaml(address) });
    await mkdir(join(meshDir.dir, 'flags'), { recursive: true });
    const { hosts: _hosts, meshYaml: _yaml, controlPlaneArgs, ...rest } = o;
    const meshOptions = { ...rest, ...(controlPlaneArgs !== undefined ? { controlPlaneArgs: controlPlaneArgs(address) } : {}) };
    let mesh: MeshOnHosts;
    try {
      mesh = await startMeshOnHosts(l, { ...meshOptions, meshDir: meshDir.dir });
    } catch (err) {
      const logs: string[] = [];
      for (const h of o.agentHosts) logs.push(`--- ${h} agent.log\n${(await readFile(join(l.dir, h, 'agent.log'), 'utf8').catch(() => '')).split('\n').slice(-25).join('\n')}`);
      throw new Error(`${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
    }
    http = httpAgent();
    const dir = meshDir.dir;
    const api = <T>(path: string): Promise<T> => mesh.api<T>(path);
    const d: DrillLab = {
      lab: l,
      mesh,
      meshDir,
      address,
      http,
      async apply(yaml, replica = 0) {
        const before = await newestVersion(api);
        const file = join(dir, `resource-${++seq}.yaml`);
        await writeFile(file, yaml);
        // The CLI carries the admin token and the CA file, as an operator's shell would.
        const r = await mesh.replica(replica).cli(['apply', '-f', file, '--control-plane', mesh.apiUrls[replica] as string]);
        if (r.code !== 0) throw new Error(`trellis apply exited ${r.code}: ${r.stderr}`);
        return proxiesAt(api, before + 1);
      },
      async clear() {
        const views = await api<{ kind: string; metadata: { namespace: string; name: string } }[]>('/api/v1/resources');
        if (views.length === 0) return;
        const before = await newestVersion(api);
        for (const v of views) {
          const r = await mesh.cli(['delete', v.kind, v.metadata.name, '--namespace', v.metadata.namespace, '--control-plane', mesh.apiUrl]);
          if (r.code !== 0) throw new Error(`trellis delete ${v.kind} ${v.metadata.name} exited ${r.code}: ${r.stderr}`);
        }
        await proxiesAt(api, before + 1);
      },
      async flag(workload, replica, kind, on) {
        const file = join(dir, 'flags', `${workload}-${replica}.${kind}`);
        if (on) await writeFile(file, '1');
        else await rm(file, { force: true });
      },
      logTail: (host, file) => mesh.logTail(host, file),
    };
    drill = d;
  });

  after(async () => {
    await http?.close();
    // The lab ends every process in its namespaces (control planes, agents, proxies, apps, etcd).
    await lab?.close();
    await meshDir?.cleanup();
    process.removeListener('exit', onExit);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  });

  return {
    get() {
      if (drill === undefined) throw new Error('drill lab used before it was built (call useDrillLab inside describe)');
      return drill;
    },
  };
}

/** Runs `during` with a load loop going; stops it and returns its totals (whatever `during` did). */
export async function underLoad(request: () => Promise<Outcome>, during: (loop: LoadLoop) => Promise<void>, concurrency = 4): Promise<LoadStats> {
  const loop = loadLoop(request, { concurrency });
  try {
    await loop.waitForOk(20, 60_000);
    await during(loop);
    await loop.waitForOk(20, 60_000);
  } finally {
    await loop.stop();
  }
  return loop.stats();
}

/** Assertion message for a load loop that should have had no failure. */
export function failuresOf(stats: LoadStats): string {
  return `${stats.failed} of ${stats.ok + stats.failed} requests failed:\n${describeFailures(stats)}`;
}
