/**
 * A mesh across lab hosts (test/helpers/netns-lab.ts) for the cross-host tests and the fault
 * drills, set up as a user does on real machines (test/lab/trellis-lab.ts): a 3-member etcd
 * cluster, two control-plane replicas over it with the CA sealed in etcd and HTTPS on their
 * host addresses, and agents that join with tokens made with the admin credential, each given
 * every replica. Everything started here runs in the lab's namespaces, so the lab's close()
 * ends it, also when a test fails.
 *
 *   const lab = await createNetnsLab({ hosts: ['h1', 'h2', 'h3'] });
 *   try {
 *     const mesh = await startMeshOnHosts(lab, { meshDir, agentHosts: ['h1', 'h2'], trustDomain, expectWorkloads: 4 });
 *     await mesh.api('/api/v1/endpoints');           // replica 1, admin credential, CA verified
 *     await mesh.replica(1).api('/api/v1/proxies');  // replica 2
 *     mesh.replicas[1].process.kill('SIGKILL');      // drills: a replica, an etcd member ...
 *   } finally { await lab.close(); }
 */
import type { ChildProcess } from 'node:child_process';
import { startTrellisLab, type LabAgent, type LabEtcdMember, type LabReplica, type TrellisLab } from '../lab/trellis-lab.js';
import type { ControlPlaneClient } from './mesh.js';
import type { NetnsLab } from './netns-lab.js';

export interface MeshOnHosts extends ControlPlaneClient {
  /** etcd members (member.name, member.clientUrl, member.host, member.argv, member.logFile, process) in host order. */
  etcd: LabEtcdMember[];
  etcdEndpoints: string[];
  /** Control-plane replicas (host, address, apiUrl, pushUrl, stateDir, logFile, argv, process). */
  replicas: LabReplica[];
  /** Every replica's API URL, in replica order. */
  apiUrls: string[];
  /** The first replica's process (what `controlPlane` was before replicas). */
  controlPlane: ChildProcess;
  /** Agent processes by host. */
  agents: Map<string, ChildProcess>;
  /** Agents with their state dir, log file and the replica order they were given. */
  agentInfo: Map<string, LabAgent>;
  adminTokenFile: string;
  caFile: string;
  /** A client of replica `i` (0-based) with the admin credential. */
  replica(i: number): ControlPlaneClient;
  /** Node ids of proxies connected to some replica, with that replica's API URL. */
  connectedProxies(): Promise<Map<string, string>>;
  /** The last lines of a file under `<lab dir>/<host>/` (`agent.log`, `control-plane.log`, `etcd.log`). */
  logTail(host: string, file: string, lines?: number): Promise<string>;
}

export interface MeshOnHostsOptions {
  /** Folder with trellis.yaml (placing workloads with `hosts:`) and its apps; every agent runs it. */
  meshDir: string;
  /** Hosts with an agent. */
  agentHosts: string[];
  trustDomain: string;
  certTtl?: string;
  /** Workload rows (and ingresses) the agents register in all; start waits until every replica is ready and its proxy connected. */
  expectWorkloads: number;
  /** Hosts with an etcd member (default: the lab's first three; the lab needs three hosts). */
  etcdHosts?: string[];
  /** Hosts with a control-plane replica (default: the lab's first two). */
  controlPlaneHosts?: string[];
  /** What each host's join token allows (`<namespace>/<serviceAccount>`); default every service account. */
  serviceAccounts?: (host: string) => string[];
  /** More `trellis control-plane` flags, the same on every replica. */
  controlPlaneArgs?: string[];
}

/** Starts etcd, both replicas and every agent (test/lab/trellis-lab.ts); resolves once the mesh has settled. */
export async function startMeshOnHosts(lab: NetnsLab, o: MeshOnHostsOptions): Promise<MeshOnHosts> {
  const t: TrellisLab = await startTrellisLab(
    {
      hosts: lab.hosts,
      dir: lab.dir,
      spawn: (host, argv, so) => lab.spawn(host, argv, so),
      exec: (host, argv, eo) => lab.exec(host, argv, eo),
    },
    {
      meshDir: o.meshDir,
      trustDomain: o.trustDomain,
      agentHosts: o.agentHosts,
      expectWorkloads: o.expectWorkloads,
      ...(o.certTtl !== undefined ? { certTtl: o.certTtl } : {}),
      ...(o.etcdHosts !== undefined ? { etcdHosts: o.etcdHosts } : {}),
      ...(o.controlPlaneHosts !== undefined ? { controlPlaneHosts: o.controlPlaneHosts } : {}),
      ...(o.serviceAccounts !== undefined ? { serviceAccounts: o.serviceAccounts } : {}),
      ...(o.controlPlaneArgs !== undefined ? { controlPlaneArgs: o.controlPlaneArgs } : {}),
    },
  );
  return {
    ...t.client(0),
    etcd: t.etcd,
    etcdEndpoints: t.etcdEndpoints,
    replicas: t.replicas,
    apiUrls: t.apiUrls,
    controlPlane: t.replicas[0]!.process,
    agents: new Map([...t.agents].map(([h, a]) => [h, a.process])),
    agentInfo: t.agents,
    adminTokenFile: t.adminTokenFile,
    caFile: t.caFile,
    replica: (i) => t.client(i),
    connectedProxies: () => t.connectedProxies(),
    logTail: (host, file, lines) => t.logTail(host, file, lines),
  };
}
