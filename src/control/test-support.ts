/**
 * Helpers for the control plane's tests (real sockets on 127.0.0.1 port 0, temp state dirs).
 * Not used by the product.
 */
import { after, before } from 'node:test';
import { connect } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PUSH_PATH_CERTIFICATE, PUSH_PATH_STREAM } from '../api/push.js';
import type { CertificateResponse, ControlMessage, ProxyMessage, ProxyStatusReport } from '../api/push.js';
import type { AgentReport, WorkloadReport } from '../api/registry.js';
import { generateKeyAndCsr } from '../identity/keys.js';
import { clientTlsOptions } from '../identity/tls.js';
import type { TlsCredentials } from '../identity/tls.js';
import { ControlPlane } from './control-plane.js';
import type { ControlPlaneOptions } from './control-plane.js';

export async function tempDir(prefix = 'trellis-cp-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function startControlPlane(stateDir: string, extra: Partial<ControlPlaneOptions> = {}): Promise<ControlPlane> {
  return ControlPlane.start({
    stateDir,
    api: { host: '127.0.0.1', port: 0 },
    push: { host: '127.0.0.1', port: 0 },
    trustDomain: 'test.local',
    certTtlMs: 3600_000,
    logLevel: 'silent',
    pingIntervalMs: 200,
    ...extra,
  });
}

export function workload(name: string, opts: Partial<WorkloadReport> & { readyPorts?: number[]; host?: string } = {}): WorkloadReport {
  const { readyPorts = [20001], host = '127.0.0.1', ...rest } = opts;
  return {
    namespace: 'default',
    name,
    service: name,
    serviceAccount: name,
    ports: [{ name: 'http', protocol: 'http' }],
    upstreams: [],
    ingress: false,
    replicas: readyPorts.map((p, i) => ({
      replica: i,
      nodeId: `default/${name}/${i}`,
      state: 'ready' as const,
      restarts: 0,
      appPid: null,
      proxyPid: null,
      adminUrl: '',
      endpoints: [{ port: 'http', protocol: 'http' as const, host, portNumber: p }],
      lastExit: null,
    })),
    ...rest,
  };
}

export function agentReport(agentId: string, workloads: WorkloadReport[], leaseMs = 30_000): AgentReport {
  return { agentId, hostname: 'host', leaseMs, workloads };
}

/**
 * One REST call. The default credential is what a real caller holds: the agent token for
 * agent routes, the local admin token for everything else; null sends none.
 */
export async function api(
  cp: ControlPlane,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = path.startsWith('/api/v1/agents/') ? cp.agentToken : cp.adminToken,
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${cp.apiUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // plain text
  }
  return { status: res.status, json };
}

export function pushSession(cp: ControlPlane, creds: TlsCredentials | null): ClientHttp2Session {
  const opts = clientTlsOptions(creds, cp.ca.trustBundlePem(), cp.identity, ['h2']);
  const s = connect(cp.pushUrl, opts);
  s.on('error', () => {});
  return s;
}

/** One request on a fresh session; the session is closed afterwards. */
export async function pushPost(cp: ControlPlane, path: string, body: unknown, creds: TlsCredentials | null): Promise<{ status: number; json: unknown }> {
  const s = pushSession(cp, creds);
  try {
    return await new Promise((resolve, reject) => {
      const req = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
      let status = 0;
      let text = '';
      req.setEncoding('utf8');
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: string) => (text += d));
      req.on('end', () => resolve({ status, json: text === '' ? null : (JSON.parse(text) as unknown) }));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  } finally {
    s.close();
  }
}

/**
 * Bootstrap token, CSR, certificate from the push API: what a starting proxy does. The token is
 * asked through the API when agent a1 has reported the identity (the API gives a local agent
 * only its reported workloads' identities: src/control/auth/agent-scope.ts), else issued
 * directly, for tests about the push API that send no report.
 */
export async function enroll(cp: ControlPlane, nodeId: string, identity: string): Promise<TlsCredentials & { notAfter: string }> {
  let token: string;
  if (cp.registry.report('a1')?.workloads.some((w) => cp.registry.identityOf(w) === identity) === true) {
    const t = await api(cp, 'POST', `/api/v1/agents/a1/tokens`, { nodeId, identity });
    if (t.status !== 200) throw new Error(`token: ${t.status} ${JSON.stringify(t.json)}`);
    token = (t.json as { token: string }).token;
  } else {
    token = (await cp.issueToken(nodeId, identity)).token;
  }
  const { keyPem, csrPem } = await generateKeyAndCsr(identity);
  const r = await pushPost(cp, PUSH_PATH_CERTIFICATE, { csrPem, token, nodeId }, null);
  if (r.status !== 200) throw new Error(`certificate: ${r.status} ${JSON.stringify(r.json)}`);
  const c = r.json as CertificateResponse;
  return { keyPem, certChainPem: c.certChainPem, notAfter: c.notAfter };
}

export const STATUS: ProxyStatusReport = {
  certNotAfter: new Date(Date.now() + 3600_000).toISOString(),
  certSerial: '01',
  tlsHandshakes: 0,
  tlsFailures: 0,
  peersVerified: 0,
  adminUrl: 'http://127.0.0.1:1',
};

/** A push stream from the proxy's side: send lines, await the control plane's lines. */
export class StreamClient {
  readonly status: Promise<number>;
  private readonly queue: ControlMessage[] = [];
  private waiters: ((m: ControlMessage | null) => void)[] = [];
  private ended = false;
  private readonly session: ClientHttp2Session;
  private readonly req;

  constructor(cp: ControlPlane, creds: TlsCredentials | null) {
    this.session = pushSession(cp, creds);
    this.req = this.session.request({ ':method': 'POST', ':path': PUSH_PATH_STREAM, 'content-type': 'application/x-ndjson' });
    this.req.on('error', () => {});
    this.status = new Promise((resolve) => {
      this.req.on('response', (h) => resolve(Number(h[':status'])));
      this.req.on('close', () => resolve(0));
    });
    let buf = '';
    this.req.setEncoding('utf8');
    this.req.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line) as ControlMessage | { error: unknown };
        if (!('type' in msg)) continue;
        const w = this.waiters.shift();
        if (w !== undefined) w(msg);
        else this.queue.push(msg);
      }
    });
    this.req.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }

  send(msg: ProxyMessage): void {
    if (this.req.writable) this.req.write(`${JSON.stringify(msg)}\n`);
  }

  /** One line as given (it may be malformed on purpose). */
  sendRaw(line: string): void {
    this.req.write(`${line}\n`);
  }

  /** Next message that is not a ping (null when the stream ended). */
  async next(): Promise<ControlMessage | null> {
    for (;;) {
      const m = await this.nextAny();
      if (m === null || m.type !== 'ping') return m;
    }
  }

  nextAny(): Promise<ControlMessage | null> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Messages already received (non-ping) without waiting. */
  pending(): ControlMessage[] {
    return this.queue.filter((m) => m.type !== 'ping');
  }

  close(): void {
    this.req.close();
    this.session.destroy();
  }
}

/** Polls `f` until it returns true (no timing assertion: the test runner's timeout is the limit). */
export async function until(f: () => boolean | Promise<boolean>, stepMs = 10): Promise<void> {
  while (!(await f())) await new Promise((r) => setTimeout(r, stepMs));
}

/**
 * The setup most control-plane test files share: a control plane in a fresh temp state dir,
 * started before the file's tests and closed (dir removed) after them. Read `.cp` in tests.
 */
export function useControlPlane(extra: Partial<ControlPlaneOptions> = {}): { readonly cp: ControlPlane } {
  let cp: ControlPlane | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    cp = await startControlPlane(t.dir, extra);
  });
  after(async () => {
    await cp?.close();
    await cleanup?.();
  });
  return {
    get cp(): ControlPlane {
      if (cp === undefined) throw new Error('control plane used before it started (call useControlPlane at the top of a test file)');
      return cp;
    },
  };
}
