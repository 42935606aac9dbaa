/**
 * The control plane's REST API, same origin as the dashboard. Every call resolves to a value
 * or throws an ApiError whose message is fit to show the user as is.
 */
import type { ServiceView, WorkloadView, ProxyView } from '../../../src/api/registry.js';
import type { ResourceView } from '../../../src/api/resources.js';
import type { SeriesView, StatsView, WorkloadStatusView } from '../../../src/api/stats.js';
import type { TraceSummaryView, TraceView } from '../../../src/api/traces.js';
import type { WhyAnswer } from '../../../src/api/why.js';

export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status, 0 when the control plane could not be reached. */
    readonly status: number,
  ) {
    super(message);
  }
}

/** GET <API_BASE><path>, parsed JSON. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, { headers: { accept: 'application/json' }, signal: signal ?? null });
  } catch (err) {
    if (signal?.aborted === true) throw err;
    throw new ApiError('The control plane is not answering. Is `trellis up` still running?', 0);
  }
  const text = await res.text();
  if (!res.ok) throw new ApiError(errorMessage(res.status, text, path), res.status);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(`GET ${path}: the answer was not JSON`, res.status);
  }
}

/** The control plane's error body is {error:{code,message}}; say what happened in words. */
function errorMessage(status: number, body: string, path: string): string {
  let message = body.slice(0, 300);
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    /* not JSON: keep the text */
  }
  if (status === 501) return `This part of the control plane is not built yet (GET ${path}: ${message}).`;
  // The dashboard signs in through its login link (a cookie); without it every read is refused.
  if (status === 401) return `Not signed in (${message}). Open the dashboard= link \`trellis up\` printed, or this address with ?token=<a read token> (e.g. the state directory's read-token).`;
  if (status === 403) return `This token may not read the mesh: ${message}`;
  return `GET ${path} failed with ${status}: ${message}`;
}

const enc = encodeURIComponent;

export const api = {
  stats: (window: string, signal?: AbortSignal) => getJson<StatsView>(`/stats?window=${enc(window)}`, signal),
  series: (kind: 'service' | 'route', namespace: string, name: string, window: string, signal?: AbortSignal) =>
    getJson<SeriesView>(`/stats/series?kind=${kind}&namespace=${enc(namespace)}&name=${enc(name)}&window=${enc(window)}`, signal),
  workloadStatus: (signal?: AbortSignal) => getJson<WorkloadStatusView[]>('/workloads/status', signal),
  services: (signal?: AbortSignal) => getJson<ServiceView[]>('/services', signal),
  workloads: (signal?: AbortSignal) => getJson<WorkloadView[]>('/workloads', signal),
  proxies: (signal?: AbortSignal) => getJson<ProxyView[]>('/proxies', signal),
  resources: (signal?: AbortSignal) => getJson<ResourceView[]>('/resources', signal),
  traces: (limit: number, signal?: AbortSignal) => getJson<TraceSummaryView[]>(`/traces?limit=${limit}`, signal),
  trace: (traceId: string, signal?: AbortSignal) => getJson<TraceView>(`/traces/${enc(traceId)}`, signal),
  /** `query`: whyQuery's (views/why/why-query.ts). */
  why: (query: string, signal?: AbortSignal) => getJson<WhyAnswer>(`/why?${query}`, signal),
  version: (signal?: AbortSignal) => getJson<{ version: string; trustDomain: string }>('/version', signal),
};

/** URL of the tap stream (EventSource) for a query. */
export function tapUrl(query: Record<string, string>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== '') params.set(k, v);
  return `${API_BASE}/tap?${params.toString()}`;
}
