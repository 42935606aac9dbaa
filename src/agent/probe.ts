import type { WorkloadConfig } from '../config/types.js';
import { connect } from 'node:net';
import { request, type Dispatcher } from 'undici';

/** True if a TCP connection to host:port opens within timeoutMs. */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.once('connect', () => finish(true));
    sock.once('error', () => finish(false));
  });
}

/** True if GET url answers 2xx or 3xx within timeoutMs. */
export async function httpProbe(url: string, timeoutMs: number, dispatcher?: Dispatcher): Promise<boolean> {
  try {
    const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs), ...(dispatcher !== undefined ? { dispatcher } : {}) });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 400;
  } catch {
    return false;
  }
}

/** What a proxy's GET /ready said: 200, 503 `draining`, another 503 (its body), or no answer. */
export type ProxyReadiness = { state: 'ready' } | { state: 'draining' } | { state: 'not-ready'; reason: string } | { state: 'unreachable'; reason: string };

export async function proxyReadiness(readyUrl: string, timeoutMs: number): Promise<ProxyReadiness> {
  try {
    const res = await request(readyUrl, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.body.text()).trim().slice(0, 200);
    if (res.statusCode === 200) return { state: 'ready' };
    if (body === 'draining') return { state: 'draining' };
    return { state: 'not-ready', reason: `${res.statusCode} ${body}` };
  } catch (err) {
    return { state: 'unreachable', reason: (err as Error).message };
  }
}

/** A workload's readiness check: httpGet on one port, else TCP connect to every port. */
export interface Readiness {
  describe(): string;
  run(): Promise<boolean>;
}

export function readinessProbe(w: WorkloadConfig, appPorts: Map<string, number>, host = '127.0.0.1'): Readiness {
  const r = w.readiness;
  if (r.httpGet !== null) {
    const url = `http://${host}:${appPorts.get(r.httpGet.port)}${r.httpGet.path}`;
    return { describe: () => `GET ${url}`, run: () => httpProbe(url, r.timeoutMs) };
  }
  return {
    describe: () => `TCP connect to ${w.ports.map((p) => `${p.name} ${host}:${appPorts.get(p.name)}`).join(', ')}`,
    async run() {
      for (const p of w.ports) if (!(await tcpProbe(host, appPorts.get(p.name) as number, r.timeoutMs))) return false;
      return true;
    },
  };
}
