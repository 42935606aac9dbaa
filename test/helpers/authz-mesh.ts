/**
 * The mesh the authorization suites share, started once per suite through `trellis up`:
 *
 *   web        http-echo; upstreams api:http, grpc-echo:grpc, tcp-echo:tcp on fixed ports
 *   batch      http-echo; upstreams api:http, tcp-echo:tcp on fixed ports (a second identity)
 *   api        http-echo, service api (readiness on /healthz, probed by the agent)
 *   api-v2     http-echo, service api-v2 (a route's backend)
 *   grpc-echo  grpc-echo
 *   tcp-echo   tcp-echo
 *
 * Policies are applied with the real CLI (`trellis apply`) and each apply waits until every
 * proxy acknowledged the resulting snapshot.
 */
import { after, before } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { request, type Agent } from 'undici';
import type { ProxyView } from '../../src/api/registry.js';
import { httpAgent, startMesh, type Mesh } from './mesh.js';
import { TRUST_DOMAIN } from './meshes.js';
import { freePorts, waitFor } from './proc.js';
import { waitForConfig } from './traffic-mesh.js';

export interface AuthzPorts {
  webApi: number;
  webGrpc: number;
  webTcp: number;
  batchApi: number;
  batchTcp: number;
}

export function authzMeshYaml(p: AuthzPorts, defaultAction = 'allow'): string {
  const readiness = `
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 1`;
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: authz
spec:
  trustDomain: ${TRUST_DOMAIN}
  namespace: default
  certificateTTL: 1h
  controlPlane:
    api: 127.0.0.1:0
    push: 127.0.0.1:0
  accessLog: file
  authorization:
    defaultAction: ${defaultAction}
  workloads:
    - name: web
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
      upstreams:
        - { service: api, port: http, listen: "127.0.0.1:${p.webApi}" }
        - { service: grpc-echo, port: grpc, listen: "127.0.0.1:${p.webGrpc}" }
        - { service: tcp-echo, port: tcp, listen: "127.0.0.1:${p.webTcp}" }
    - name: batch
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
      upstreams:
        - { service: api, port: http, listen: "127.0.0.1:${p.batchApi}" }
        - { service: tcp-echo, port: tcp, listen: "127.0.0.1:${p.batchTcp}" }
    - name: api
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
    - name: api-v2
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
    - name: grpc-echo
      command: [node, grpc-echo.mjs]
      ports: [{ name: grpc, protocol: grpc }]
    - name: tcp-echo
      command: [node, tcp-echo.mjs]
      ports: [{ name: tcp, protocol: tcp }]
`;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface AuthzMesh {
  readonly mesh: Mesh;
  readonly ports: AuthzPorts;
  /** `trellis apply -f` of the YAML; resolves once every proxy serves the result. */
  apply(yaml: string): Promise<void>;
  /** Deletes every resource; resolves once every proxy serves the result. */
  clear(): Promise<void>;
  /** A request through an outbound listener (keep-alive agent shared by the suite). */
  send(port: number, path: string, init?: { method?: string; headers?: Record<string, string> }): Promise<HttpReply>;
  /** The access-log lines of a proxy (`api-0`), parsed. */
  accessLines(proxy: string): Promise<Record<string, unknown>[]>;
  /** GET <admin of the workload's first proxy>/metrics. */
  metrics(workload: string): Promise<string>;
}

export function useAuthzMesh(defaultAction = 'allow'): AuthzMesh {
  let mesh: Mesh | undefined;
  let agent: Agent | undefined;
  const ports: AuthzPorts = { webApi: 0, webGrpc: 0, webTcp: 0, batchApi: 0, batchTcp: 0 };
  let seq = 0;

  before(async () => {
    [ports.webApi, ports.webGrpc, ports.webTcp, ports.batchApi, ports.batchTcp] = (await freePorts(5)) as [number, number, number, number, number];
    agent = httpAgent();
    mesh = await startMesh({ meshYaml: authzMeshYaml(ports, defaultAction) });
    await waitFor(
      'all endpoints ready',
      async () => {
        const eps = await mesh!.getJson<{ ready: boolean; service: string }[]>('endpoints');
        return ['api', 'api-v2', 'grpc-echo', 'tcp-echo', 'web', 'batch'].every((s) => eps.some((e) => e.ready && e.service === s)) ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    await waitForConfig(mesh, 0);
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  const m = (): Mesh => {
    if (mesh === undefined) throw new Error('authz mesh used before it started (call useAuthzMesh inside describe)');
    return mesh;
  };
  const topVersion = async (): Promise<number> => Math.max(0, ...(await m().api<ProxyView[]>('/api/v1/proxies')).map((p) => p.version ?? 0));

  return {
    get mesh() {
      return m();
    },
    ports,
    async apply(yaml) {
      const before = await topVersion();
      const file = join(m().dir, `policy-${++seq}.yaml`);
      await writeFile(file, yaml);
      const r = await m().cli(['apply', '-f', file, '--control-plane', m().apiUrl, '--state-dir', m().stateDir]);
      if (r.code !== 0) throw new Error(`trellis apply exited ${r.code}: ${r.stderr}`);
      if (!/created|configured/.test(r.stdout)) return;
      await waitForConfig(m(), before + 1);
    },
    async clear() {
      const views = await m().api<{ kind: string; metadata: { namespace: string; name: string } }[]>('/api/v1/resources');
      if (views.length === 0) return;
      const before = await topVersion();
      for (const v of views) {
        const r = await m().cli(['delete', v.kind, v.metadata.name, '--namespace', v.metadata.namespace, '--control-plane', m().apiUrl, '--state-dir', m().stateDir]);
        if (r.code !== 0) throw new Error(`trellis delete ${v.kind} ${v.metadata.name} exited ${r.code}: ${r.stderr}`);
      }
      await waitForConfig(m(), before + 1);
    },
    async send(port, path, init = {}) {
      const res = await request(`http://127.0.0.1:${port}${path}`, {
        method: (init.method ?? 'GET') as 'GET',
        headers: init.headers ?? {},
        dispatcher: agent,
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    },
    async accessLines(proxy) {
      let text: string;
      try {
        text = await readFile(join(m().stateDir, 'logs', `${proxy}.access.log`), 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async metrics(workload) {
      const proxies = await m().api<ProxyView[]>('/api/v1/proxies');
      const p = proxies.find((x) => x.nodeId.startsWith(`default/${workload}/`) && x.adminUrl !== null);
      if (p === undefined) throw new Error(`no proxy of ${workload} with an admin URL`);
      const res = await request(`${p.adminUrl}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
      return res.body.text();
    },
  };
}

/** Sends raw bytes to a loopback port and returns all the server sent back until it closed (or 10 s). */
export function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** An AuthorizationPolicy on a Service of `default`, its spec given as YAML lines indented by 2. */
export function authzPolicy(name: string, service: string, body: string): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: default }
spec:
  targetRef: { kind: Service, name: ${service} }
${body}
`;
}
