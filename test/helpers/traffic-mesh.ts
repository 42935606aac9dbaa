/**
 * The mesh the traffic-management suites share: a client workload and the services its routes
 * send to, started once per suite. Tests apply resources with the real CLI (`trellis apply`),
 * wait until every proxy has acknowledged the resulting config, and send requests through the
 * client's outbound listeners as "the client app" would.
 *
 *   client      http-echo; upstreams echo:http, grpc-echo:grpc, mirror:http on fixed ports
 *   echo-v1     http-echo x2, service echo, labels version=v1
 *   echo-v2     http-echo x1, service echo, labels version=v2
 *   mirror      http-echo x1 (records what it sees: GET /__requests)
 *   grpc-echo   grpc-echo x1 (+ grpc-echo-v2 x1 as service grpc-echo-v2)
 *   services    echo-v1 / echo-v2: label-selected subsets of echo
 */
import { after, before } from 'node:test';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type Agent } from 'undici';
import type { ProxyView } from '../../src/api/registry.js';
import { httpAgent, startMesh, type Mesh } from './mesh.js';
import { TRUST_DOMAIN } from './meshes.js';
import { freePorts, sleep, waitFor } from './proc.js';

export interface TrafficPorts {
  echo: number;
  grpc: number;
  mirror: number;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface TrafficMesh {
  readonly mesh: Mesh;
  readonly agent: Agent;
  readonly ports: TrafficPorts;
  /** `trellis apply -f <yaml>`; resolves once every proxy serves the resulting config. */
  apply(yaml: string): Promise<{ stdout: string; version: number }>;
  /** `trellis apply` expected to fail: returns its exit code and stderr. */
  applyRejected(yaml: string): Promise<{ code: number | null; stderr: string }>;
  /** Deletes every resource and waits until every proxy serves the result. */
  clear(): Promise<void>;
  /** A request through the client's outbound listener on `port`. */
  send(port: number, path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<HttpResult>;
  /** Creates or removes flags/<workload>-<replica>.<kind> (read by http-echo: fail, unhealthy). */
  flag(workload: string, replica: number, kind: 'fail' | 'unhealthy', on: boolean): Promise<void>;
  /** Highest snapshot version any proxy has been given. */
  configVersion(): Promise<number>;
}

export function trafficMeshYaml(ports: TrafficPorts): string {
  const readiness = `
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 1`;
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: traffic
spec:
  trustDomain: ${TRUST_DOMAIN}
  namespace: default
  certificateTTL: 1h
  controlPlane:
    api: 127.0.0.1:0
    push: 127.0.0.1:0
  accessLog: file
  services:
    - name: echo-v1
      selector: { app: echo, version: v1 }
    - name: echo-v2
      selector: { app: echo, version: v2 }
  workloads:
    - name: client
      command: [node, http-echo.mjs]
      ports:
        - name: http
          protocol: http${readiness}
      upstreams:
        - service: echo
          port: http
          listen: 127.0.0.1:${ports.echo}
        - service: grpc-echo
          port: grpc
          listen: 127.0.0.1:${ports.grpc}
        - service: mirror
          port: http
          listen: 127.0.0.1:${ports.mirror}
    - name: echo-v1
      service: echo
      labels: { version: v1 }
      command: [node, http-echo.mjs]
      replicas: 2
      ports:
        - name: http
          protocol: http${readiness}
    - name: echo-v2
      service: echo
      labels: { version: v2 }
      command: [node, http-echo.mjs]
      ports:
        - name: http
          protocol: http${readiness}
    - name: mirror
      command: [node, http-echo.mjs]
      ports:
        - name: http
          protocol: http${readiness}
    - name: grpc-echo
      command: [node, grpc-echo.mjs]
      ports:
        - name: grpc
          protocol: grpc
    - name: grpc-echo-v2
      command: [node, grpc-echo.mjs]
      ports:
        - name: grpc
          protocol: grpc
`;
}

/** Every connected proxy has acknowledged the version it was last given, and one is >= `atLeast`. */
export async function waitForConfig(mesh: Mesh, atLeast: number, timeoutMs = 20_000): Promise<number> {
  return waitFor(
    `every proxy to acknowledge config version >= ${atLeast}`,
    async () => {
      const proxies = await mesh.api<ProxyView[]>('/api/v1/proxies');
      const connected = proxies.filter((p) => p.connected);
      if (connected.length === 0) return undefined;
      const top = Math.max(...connected.map((p) => p.version ?? 0));
      if (top < atLeast) return undefined;
      return connected.every((p) => p.version === p.ackedVersion) ? top : undefined;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

/** Call inside describe(): starts the traffic mesh before the suite and stops it after. */
export function useTrafficMesh(): TrafficMesh {
  let mesh: Mesh | undefined;
  let agent: Agent | undefined;
  const ports: TrafficPorts = { echo: 0, grpc: 0, mirror: 0 };
  let seq = 0;

  before(async () => {
    [ports.echo, ports.grpc, ports.mirror] = (await freePorts(3)) as [number, number, number];
    agent = httpAgent();
    mesh = await startMesh({ meshYaml: trafficMeshYaml(ports) });
    await mkdir(join(mesh.dir, 'flags'), { recursive: true });
    // Every workload's endpoints are in every client's config before tests start.
    await waitFor(
      'all endpoints ready',
      async () => {
        const eps = await mesh!.getJson<{ ready: boolean; service: string }[]>('endpoints');
        const ready = (svc: string): number => eps.filter((e) => e.ready && e.service === svc).length;
        return ready('echo') === 3 && ready('echo-v1') === 2 && ready('echo-v2') === 1 && ready('mirror') === 1 && ready('grpc-echo') === 1 ? true : undefined;
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
    if (mesh === undefined) throw new Error('traffic mesh used before it started (call useTrafficMesh inside describe)');
    return mesh;
  };

  const configVersion = async (): Promise<number> => {
    const proxies = await m().api<ProxyView[]>('/api/v1/proxies');
    return Math.max(0, ...proxies.map((p) => p.version ?? 0));
  };

  const writeResource = async (yaml: string): Promise<string> => {
    const file = join(m().dir, `resource-${++seq}.yaml`);
    await writeFile(file, yaml);
    return file;
  };

  const tm: TrafficMesh = {
    get mesh() {
      return m();
    },
    get agent() {
      if (agent === undefined) throw new Error('traffic mesh used before it started');
      return agent;
    },
    ports,
    configVersion,
    async apply(yaml) {
      const before = await configVersion();
      const file = await writeResource(yaml);
      const r = await m().cli(['apply', '-f', file, '--control-plane', m().apiUrl, '--state-dir', m().stateDir]);
      if (r.code !== 0) throw new Error(`trellis apply exited ${r.code}: ${r.stderr}`);
      const version = r.stdout.includes('unchanged') && !/created|configured/.test(r.stdout) ? before : await waitForConfig(m(), before + 1);
      return { stdout: r.stdout, version };
    },
    async applyRejected(yaml) {
      const file = await writeResource(yaml);
      const r = await m().cli(['apply', '-f', file, '--control-plane', m().apiUrl, '--state-dir', m().stateDir]);
      return { code: r.code, stderr: r.stderr };
    },
    async clear() {
      const views = await m().api<{ kind: string; metadata: { namespace: string; name: string } }[]>('/api/v1/resources');
      if (views.length === 0) return;
      const before = await configVersion();
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
        ...(init.body !== undefined ? { body: init.body } : {}),
        dispatcher: tm.agent,
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    },
    async flag(workload, replica, kind, on) {
      const file = join(m().dir, 'flags', `${workload}-${replica}.${kind}`);
      if (on) await writeFile(file, '1');
      else await rm(file, { force: true });
      await sleep(0);
    },
  };
  return tm;
}

/**
 * A route resource attached to `service` (GAMMA parentRef); `rules` is YAML already indented
 * for the rules list, `annotations` YAML indented under metadata.annotations.
 */
export function serviceRoute(kind: 'HTTPRoute' | 'GRPCRoute', name: string, service: string, rules: string, annotations = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata:
  name: ${name}${annotations !== '' ? `\n  annotations:\n${annotations}` : ''}
spec:
  parentRefs:
    - name: ${service}
      kind: Service
      group: ""
  rules:
${rules}
`;
}

/** One rule splitting `service`'s traffic over weighted backends. */
export function weightedRoute(kind: 'HTTPRoute' | 'GRPCRoute', name: string, service: string, backends: [string, number][]): string {
  const refs = backends.map(([b, w]) => `        - name: ${b}\n          port: 80\n          weight: ${w}`).join('\n');
  return serviceRoute(kind, name, service, `    - backendRefs:\n${refs}`);
}
