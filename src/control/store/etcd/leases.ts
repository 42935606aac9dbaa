import type { Etcd3 } from 'etcd3';

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
