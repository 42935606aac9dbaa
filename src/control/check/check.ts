import type { CheckReport, CheckResult, EndpointView, WorkloadView } from '../../api/registry.js';
import type { TlsCredentials } from '../../identity/tls.js';
import type { SnapshotCache } from '../compiler/snapshot-cache.js';
import { ProxyTracker } from '../push/proxy-tracker.js';
import type { ProxyNode } from '../registry/registry.js';
import { bypassCheck } from './bypass.js';
import { dialAndVerify } from './dial.js';

export interface CheckInputs {
  nodes: ProxyNode[];
  endpoints: EndpointView[];
  /** For the plaintext-bypass check (what each agent found its apps listening on). Default: none. */
  workloads?: WorkloadView[];
  tracker: ProxyTracker;
  snapshots: SnapshotCache;
  certTtlMs: number;
  now: number;
  /** The control plane's own client credentials and the bundle, for "peers verified". */
  creds: TlsCredentials;
  trustBundlePem: string[];
  dialTimeoutMs?: number;
}

const LIVE_STATES = new Set(['starting', 'ready', 'unhealthy']);
const MAX_LISTED = 5;

function result(name: string, problems: string[], okDetail: string): CheckResult {
  if (problems.length === 0) return { name, ok: true, detail: okDetail };
  const more = problems.length > MAX_LISTED ? ` (and ${problems.length - MAX_LISTED} more)` : '';
  return { name, ok: false, detail: problems.slice(0, MAX_LISTED).join('; ') + more };
}

/** `trellis check`: is the mesh the way the registry says it should be? */
export async function runChecks(i: CheckInputs): Promise<CheckReport> {
  const checks: CheckResult[] = [];
  const live = i.nodes.filter((n) => LIVE_STATES.has(n.state));

  const missing = live.filter((n) => i.tracker.get(n.nodeId)?.connected !== true).map((n) => `${n.nodeId} has no connected proxy`);
  checks.push(result('proxies connected', missing, `${live.length} replica(s), each with a connected proxy`));

  const connected = i.tracker.all().filter((s) => s.connected);
  const outOfSync: string[] = [];
  for (const s of connected) {
    const latest = i.snapshots.get(s.nodeId)?.version;
    if (latest === undefined) continue;
    if (s.ackedVersion !== latest) {
      const nack = s.nack !== null ? `, rejected ${s.nack.version}: ${s.nack.error}` : '';
      outOfSync.push(`${s.nodeId} acked ${s.ackedVersion ?? 'nothing'}, latest ${latest}${nack}`);
    }
  }
  checks.push(result('proxies in sync', outOfSync, `${connected.length} connected proxy(ies) acked the latest version`));

  const certProblems: string[] = [];
  const margin = i.certTtlMs * 0.1;
  for (const s of connected) {
    const { notAfter } = ProxyTracker.cert(s);
    if (notAfter === null) {
      certProblems.push(`${s.nodeId}: certificate unknown`);
      continue;
    }
    const left = Date.parse(notAfter) - i.now;
    if (left <= 0) certProblems.push(`${s.nodeId}: certificate expired at ${notAfter}`);
    else if (left <= margin) certProblems.push(`${s.nodeId}: certificate expires at ${notAfter} (within 10% of its TTL)`);
  }
  checks.push(result('certificates valid', certProblems, `${connected.length} certificate(s) valid and not near expiry`));

  // An endpoint is listed once per service it serves (label-selected services repeat it): dial it once.
  const byAddress = new Map<string, EndpointView>();
  for (const e of i.endpoints) if (e.ready && !byAddress.has(`${e.host}:${e.portNumber}`)) byAddress.set(`${e.host}:${e.portNumber}`, e);
  const ready = [...byAddress.values()];
  const failures = await Promise.all(
    ready.map(async (e) => {
      const why = await dialAndVerify(
        { host: e.host, port: e.portNumber, identity: e.identity, protocol: e.protocol },
        i.creds,
        i.trustBundlePem,
        i.dialTimeoutMs ?? 2000,
      );
      return why === null ? null : `${e.nodeId} ${e.port} at ${e.host}:${e.portNumber}: ${why}`;
    }),
  );
  checks.push(
    result(
      'peers verified',
      failures.filter((f): f is string => f !== null),
      `${ready.length} ready endpoint(s) presented their registered SPIFFE ID over mTLS`,
    ),
  );
  checks.push(bypassCheck(i.workloads ?? []));
  return { ok: checks.every((c) => c.ok), checks };
}
