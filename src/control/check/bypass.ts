import type { AppPortLockReport, CheckResult, WorkloadView } from '../../api/registry.js';

/**
 * `trellis check`'s "apps reachable only through their proxy": an app that listens beyond
 * loopback (its agent found it in /proc, ReplicaReport.exposed) can be reached without mTLS
 * and without policy. Such a listener fails the check unless the agent's nftables rules drop
 * its port (spec.mtls.lockAppPorts); the detail names the workload, the address, and what to
 * do, or why the lock cannot be used on that host.
 */
export const BYPASS_CHECK = 'apps reachable only through their proxy';

const MAX_LISTED = 5;

/** True when the agent's rules drop `address`'s port from anywhere but loopback. */
export function isClosed(address: string, lock: AppPortLockReport | undefined): boolean {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return lock !== undefined && lock.lockedPorts.includes(port);
}

function remedy(lock: AppPortLockReport | undefined): string {
  if (lock?.requested === true) return lock.unavailable !== undefined ? `lockAppPorts cannot close it: ${lock.unavailable}` : 'lockAppPorts has not closed it yet';
  if (lock?.unavailable !== undefined) return `listen on 127.0.0.1 (lockAppPorts cannot close it here: ${lock.unavailable})`;
  return 'listen on 127.0.0.1, or set spec.mtls.lockAppPorts: true';
}

export function bypassCheck(workloads: readonly WorkloadView[]): CheckResult {
  const open: string[] = [];
  let closed = 0;
  for (const w of workloads) {
    if (w.ingress) continue;
    const seen = new Set<string>();
    for (const r of w.replicas) {
      for (const address of r.exposed ?? []) {
        if (seen.has(address)) continue;
        seen.add(address);
        if (isClosed(address, w.appPortLock)) closed++;
        else open.push(`${w.name}: app listens on ${address}, reachable without mTLS (${remedy(w.appPortLock)})`);
      }
    }
  }
  if (open.length > 0) {
    const more = open.length > MAX_LISTED ? ` (and ${open.length - MAX_LISTED} more)` : '';
    return { name: BYPASS_CHECK, ok: false, detail: open.slice(0, MAX_LISTED).join('; ') + more };
  }
  const detail = closed > 0 ? `${closed} app listener(s) beyond loopback, each closed by the agent's nftables rules (lockAppPorts)` : 'every app listens on loopback only';
  return { name: BYPASS_CHECK, ok: true, detail };
}
