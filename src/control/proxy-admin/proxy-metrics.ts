import { request } from 'undici';
import type { WorkloadView } from '../../api/registry.js';
import { HttpError } from '../api/http-error.js';
import type { AdminDispatcherFor } from './admin-dispatcher.js';

/** What GET /api/v1/proxies/:nodeId/metrics answers: the proxy's own `/metrics`, as it sent it. */
export interface ProxyMetricsAnswer {
  contentType: string;
  body: string;
}

/**
 * Reads one proxy's `/metrics` for a caller that cannot reach it: a CLI (`trellis stat`,
 * `edges`) on another host than the proxy, whose remote admin listener answers only the control
 * plane's certificate. The control plane relays it with the read credential the caller showed.
 * Unknown node or no admin URL: 404; the proxy not answering: 502.
 */
export async function proxyMetrics(workloads: readonly WorkloadView[], nodeId: string, dispatcherFor: AdminDispatcherFor, timeoutMs = 5000): Promise<ProxyMetricsAnswer> {
  const replica = workloads.flatMap((w) => w.replicas).find((r) => r.nodeId === nodeId && r.state !== 'stopped');
  if (replica === undefined || replica.adminUrl === '') throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no running proxy ${nodeId} with an admin listener`);
  const url = `${replica.adminUrl}/metrics`;
  const dispatcher = dispatcherFor(url);
  try {
    const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...(dispatcher !== undefined ? { dispatcher } : {}) });
    const body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
    const type = res.headers['content-type'];
    return { contentType: typeof type === 'string' ? type : 'text/plain', body };
  } catch (err) {
    throw new HttpError(502, 'TRELLIS_E_TIMEOUT', `proxy ${nodeId} did not answer: ${(err as Error).message}`);
  }
}
