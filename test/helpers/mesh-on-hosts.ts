/**
 * A mesh across lab hosts (test/helpers/netns-lab.ts) for the cross-host tests: the control
 * plane on one host, an agent on each host, all with the commands of test/lab/trellis-hosts.ts
 * (what a user runs; see its TODOs for what changes with etcd, replicas and join tokens).
 * Everything started here runs in the lab's namespaces, so the lab's close() ends it.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { agentArgv, apiUrlOf, controlPlaneArgv, enrolAgent } from '../lab/trellis-hosts.js';
import { controlPlaneClient, meshSettled, type ControlPlaneClient } from './mesh.js';
import type { NetnsLab } from './netns-lab.js';
import { waitFor } from './proc.js';

export interface MeshOnHosts extends ControlPlaneClient {
  controlPlane: ChildProcess;
  agents: Map<string, ChildProcess>;
  /** The last lines of a process's log on a host, for failure messages. */
  logTail(host: string, file: string): Promise<string>;
}

export interface MeshOnHostsOptions {
  /** Folder with trellis.yaml (placing workloads with `hosts:`) and its apps; every agent runs it. */
  meshDir: string;
  controlPlaneHost: string;
  agentHosts: string[];
  trustDomain: string;
  certTtl?: string;
  /** Workloads (and ingresses) the agents register in all; start() waits until every replica is ready. */
  expectWorkloads: number;
}

async function tail(path: string, lines = 40): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts the control plane, enrols and starts every agent, waits for the mesh to settle. */
export async function startMeshOnHosts(lab: NetnsLab, o: MeshOnHostsOptions): Promise<MeshOnHosts> {
  const cpHost = lab.host(o.controlPlaneHost);
  const cpState = join(lab.dir, cpHost.name, 'control-plane');
  const apiUrl = apiUrlOf(cpHost.address);
  const logOf = (host: string, what: string): string => join(lab.dir, host, `${what}.log`);
  const controlPlane = lab.spawn(cpHost.name, controlPlaneArgv({ address: cpHost.address, stateDir: cpState, trustDomain: o.trustDomain, certTtl: o.certTtl ?? '1h' }), {
    logFile: logOf(cpHost.name, 'control-plane'),
  });
  await waitFor(`control plane /healthz at ${apiUrl}`, async () => {
    if (controlPlane.exitCode !== null) throw new Error(`control plane exited ${controlPlane.exitCode}: ${await tail(logOf(cpHost.name, 'control-plane'))}`);
    const res = await request(`${apiUrl}/healthz`, { headersTimeout: 2000 });
    await res.body.dump();
    return res.statusCode === 200;
  });
  const agents = new Map<string, ChildProcess>();
  for (const name of o.agentHosts) {
    const h = lab.host(name);
    const stateDir = join(lab.dir, name, 'agent');
    await enrolAgent(cpState, stateDir);
    agents.set(name, lab.spawn(name, agentArgv({ meshDir: o.meshDir, stateDir, controlPlaneUrls: [apiUrl], advertiseAddress: h.address }), { cwd: o.meshDir, logFile: logOf(name, 'agent') }));
  }
  const client = controlPlaneClient(apiUrl);
  await waitFor(
    `${o.expectWorkloads} workloads ready on ${o.agentHosts.join(', ')}`,
    async () => {
      for (const [name, child] of agents) {
        if (child.exitCode !== null) throw new Error(`agent on ${name} exited ${child.exitCode}:\n${await tail(logOf(name, 'agent'))}`);
      }
      return meshSettled(client, o.expectWorkloads);
    },
    { timeoutMs: 90_000, intervalMs: 300 },
  );
  return { ...client, controlPlane, agents, logTail: (host, file) => tail(join(lab.dir, host, file)) };
}
