import { request } from 'undici';
import { API_PREFIX, type AgentReport } from '../api/registry.js';
import { TrellisError } from '../errors.js';
import type { ControlPlaneCredential } from './credentials/credential.js';

export { agentTokenPath } from './credentials/local-token.js';

export interface TokenResponse {
  token: string;
  pushUrl: string;
  /** Every control-plane replica's push API, the answering one first (absent from older control planes). */
  pushUrls?: string[];
  trustBundlePem: string[];
  controlPlaneIdentity: string;
}

/** `http://a:1,http://b:2` or a list: the control-plane replicas' REST API URLs, without trailing slashes. */
export function apiUrlList(urls: string | readonly string[]): string[] {
  const list = (typeof urls === 'string' ? urls.split(',') : [...urls]).map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u !== '');
  if (list.length === 0) throw new TrellisError('TRELLIS_E_USAGE', 'no control-plane URL given');
  return [...new Set(list)];
}

/**
 * The agent's calls to the control plane's REST API (src/api/registry.ts), with its credential
 * (./credentials/). Failures are TrellisErrors: CONTROL_PLANE_UNREACHABLE for transport errors
 * and 5xx, UNAUTHORIZED for 401/403. On 401/403 the credential may reload once (a restarted
 * control plane may have written a new agent token). Given several replicas, a call that finds
 * one unreachable (or answering 5xx) is made again at the next; the one that answered is used
 * first from then on.
 */
export class RegistryClient {
  readonly apiUrls: string[];
  private current = 0;

  constructor(
    apiUrls: string | readonly string[],
    private readonly credential: ControlPlaneCredential,
    private readonly timeoutMs = 5000,
  ) {
    this.apiUrls = apiUrlList(apiUrls);
  }

  /** The replica calls go to first. */
  get apiUrl(): string {
    return this.apiUrls[this.current] as string;
  }

  prepare(): Promise<void> {
    return this.credential.prepare();
  }

  putReport(report: AgentReport): Promise<unknown> {
    return this.call('PUT', `/agents/${encodeURIComponent(report.agentId)}`, report);
  }

  deleteAgent(agentId: string): Promise<unknown> {
    return this.call('DELETE', `/agents/${encodeURIComponent(agentId)}`);
  }

  async issueToken(agentId: string, nodeId: string, identity: string): Promise<TokenResponse> {
    return (await this.call('POST', `/agents/${encodeURIComponent(agentId)}/tokens`, { nodeId, identity })) as TokenResponse;
  }

  close(): Promise<void> {
    return this.credential.close();
  }

  private async call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    let last: unknown;
    for (let i = 0; i < this.apiUrls.length; i++) {
      const at = (this.current + i) % this.apiUrls.length;
      try {
        const r = await this.callOne(this.apiUrls[at] as string, method, path, body);
        this.current = at;
        return r;
      } catch (err) {
        if (!(err instanceof TrellisError) || err.code !== 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE') throw err;
        last = err;
      }
    }
    throw last;
  }

  private async callOne(apiUrl: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown, retried = false): Promise<unknown> {
    const url = `${apiUrl}${API_PREFIX}${path}`;
    const dispatcher = this.credential.dispatcher();
    let res;
    try {
      res = await request(url, {
        method,
        headers: { ...this.credential.headers(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(dispatcher !== undefined ? { dispatcher } : {}),
      });
    } catch (err) {
      throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `control plane at ${apiUrl} is unreachable (${(err as Error).message})`, { cause: err });
    }
    const text = await res.body.text();
    if ((res.statusCode === 401 || res.statusCode === 403) && !retried && (await this.credential.refresh())) {
      return this.callOne(apiUrl, method, path, body, true);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return text === '' ? {} : (JSON.parse(text) as unknown);
    const detail = errorMessage(text);
    if (res.statusCode === 401 || res.statusCode === 403) throw new TrellisError('TRELLIS_E_UNAUTHORIZED', `control plane refused the agent: ${detail}`);
    const code = res.statusCode >= 500 ? 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE' : res.statusCode === 404 ? 'TRELLIS_E_NOT_FOUND' : 'TRELLIS_E_CONFIG';
    throw new TrellisError(code, `${method} ${path}: ${res.statusCode} ${detail}`);
  }
}

function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    return body.error?.message ?? text;
  } catch {
    return text.slice(0, 200);
  }
}
