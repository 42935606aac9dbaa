/**
 * etcd as the fault drills see it: which member leads (`etcdctl endpoint status`, as an
 * operator finds out), and members killed and started again with their data dirs, as a
 * machine that crashed and came back.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { memberHealthy } from '../lab/etcd.js';
import { waitFor } from './proc.js';

const run = promisify(execFile);

export interface EndpointStatus {
  endpoint: string;
  /** Member id, hex. */
  id: string;
  leader: boolean;
}

/**
 * `etcdctl endpoint status` over the given client URLs, `-w simple` (one line per endpoint:
 * endpoint, id, version, db size, is leader, is learner, raft term, ...). The JSON form carries
 * member ids as 64-bit numbers that JSON.parse would round. Members that do not answer are left out.
 */
export async function endpointStatus(endpoints: readonly string[]): Promise<EndpointStatus[]> {
  const out: EndpointStatus[] = [];
  for (const endpoint of endpoints) {
    try {
      const { stdout } = await run('etcdctl', ['--endpoints', endpoint, '--command-timeout', '3s', 'endpoint', 'status', '-w', 'simple'], { timeout: 10_000, env: { ...process.env, ETCDCTL_API: '3' } });
      const cols = stdout.trim().split(',').map((c) => c.trim());
      if (cols.length >= 5) out.push({ endpoint: cols[0] as string, id: cols[1] as string, leader: cols[4] === 'true' });
    } catch {
      // down: not listed
    }
  }
  return out;
}

/** The leader's client URL, once the members that answer agree there is exactly one. */
export function etcdLeader(endpoints: readonly string[], timeoutMs = 30_000): Promise<string> {
  return waitFor(
    'an etcd leader',
    async () => {
      const leaders = (await endpointStatus(endpoints)).filter((s) => s.leader);
      return leaders.length === 1 ? leaders[0]!.endpoint : undefined;
    },
    { timeoutMs, intervalMs: 300 },
  );
}

/** Waits until every given member answers /health with a leader. */
export async function etcdHealthy(endpoints: readonly string[], timeoutMs = 60_000): Promise<void> {
  await waitFor(`etcd members ${endpoints.join(', ')} healthy`, async () => (await Promise.all(endpoints.map((e) => memberHealthy(e)))).every(Boolean), { timeoutMs, intervalMs: 300 });
}
