import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';

const KEEPALIVE_TIMEOUT_MS = 5_000;

/**
 * One keepalive for a lease any replica may have granted (etcd3's Lease object only renews
 * leases its own process granted). True when the lease is alive (its TTL restarted), false
 * when etcd no longer knows it (expired or revoked). Transport failures reject.
 */
export async function keepAliveOnce(client: Etcd3, leaseId: string): Promise<boolean> {
  const stream = await client.leaseClient.leaseKeepAlive();
  try {
    const res = await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etcd: no keepalive answer for lease ${leaseId} in ${KEEPALIVE_TIMEOUT_MS} ms`)), KEEPALIVE_TIMEOUT_MS);
      stream.on('data', (r: ILeaseKeepAliveResponse) => {
        clearTimeout(timer);
        resolve(r);
      });
      stream.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      stream.write({ ID: leaseId });
    });
    return Number(res.TTL) > 0;
  } finally {
    stream.end();
  }
}

/** Grants a lease of `ttlSeconds`; resolves to its ID. */
export async function grantLease(client: Etcd3, ttlSeconds: number): Promise<string> {
  const res = await client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
  return String(res.ID);
}

/** Revokes a lease (its keys are deleted); a lease that is already gone is fine. */
export async function revokeLease(client: Etcd3, leaseId: string): Promise<void> {
  try {
    await client.leaseClient.leaseRevoke({ ID: leaseId });
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
  }
}
