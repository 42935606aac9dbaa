/**
 * A real etcd cluster on lab hosts (Debian's etcd-server 3.4, `/usr/bin/etcd`): one member per
 * host, listening on the host's address (client 2379, peer 2380; fixed ports are fine, each
 * host has its own), each with its own data dir. Started as an operator would on three
 * machines, with a static `--initial-cluster`.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { spawnOnHost } from './host-process.js';
import type { LabHost } from './netns.js';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

export interface EtcdMember {
  name: string;
  host: LabHost;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  argv: string[];
}

/** The members' names, URLs, data dirs and command lines (nothing started). */
export function planEtcdCluster(hosts: LabHost[], dir: string, clusterToken: string, etcdBinary = 'etcd'): EtcdMember[] {
  const members = hosts.map((host) => ({
    name: `etcd-${host.name}`,
    host,
    clientUrl: `http://${host.address}:${ETCD_CLIENT_PORT}`,
    peerUrl: `http://${host.address}:${ETCD_PEER_PORT}`,
    dataDir: join(dir, host.name, 'etcd'),
    logFile: join(dir, host.name, 'etcd.log'),
    argv: [] as string[],
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  for (const m of members) {
    m.argv = [
      etcdBinary,
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', clusterToken,
      '--logger', 'zap',
    ];
  }
  return members;
}

/** Starts every member on its host; returns the processes (the cluster forms once a quorum runs). */
export async function startEtcdMembers(members: EtcdMember[], opts: { detached?: boolean } = {}): Promise<ChildProcess[]> {
  const out: ChildProcess[] = [];
  for (const m of members) {
    await mkdir(m.dataDir, { recursive: true, mode: 0o700 });
    out.push(spawnOnHost(m.host, m.argv, { cwd: join(m.dataDir, '..'), logFile: m.logFile, detached: opts.detached === true }));
  }
  return out;
}

/** etcd's own health check (`GET /health`: `{"health":"true"}` once the member has a leader). */
export async function memberHealthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await request(`${clientUrl}/health`, { headersTimeout: 2000, bodyTimeout: 2000 });
    const body = (await res.body.json()) as { health?: string };
    return res.statusCode === 200 && body.health === 'true';
  } catch {
    return false;
  }
}

/** Member names the cluster lists (`POST /v3/members/list` on etcd's gRPC gateway, as `etcdctl member list` asks). */
export async function memberNames(clientUrl: string): Promise<string[]> {
  // etcd 3.4's gateway answers under /v3/ (and /v3beta/); the body is the JSON form of MemberListRequest.
  const res = await request(`${clientUrl}/v3/cluster/member/list`, { method: 'POST', body: '{}', headersTimeout: 2000, bodyTimeout: 2000 });
  const body = (await res.body.json()) as { members?: { name?: string }[] };
  if (res.statusCode !== 200) throw new Error(`member list at ${clientUrl}: ${res.statusCode}`);
  return (body.members ?? []).map((m) => m.name ?? '').sort();
}
