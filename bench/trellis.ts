/**
 * The Trellis pair, started with the real CLI: a generated mesh folder whose workload `server`
 * is the bench server and whose workload `client` is an idle process with an upstream to
 * `server` on a fixed local `listen` address. Load goes to that outbound listener:
 * load -> client's proxy (outbound, plain HTTP/1.1) -> mTLS -> server's proxy (inbound) -> server.
 */
import { writeFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { cliEntry } from '../src/util/paths.js';
import { startChild, trackPid, waitForLine, outputTail } from './children.js';
import { sleep } from './net-util.js';

export interface TrellisPair {
  cli: ChildProcess;
  apiUrl: string;
  /** Outbound listener of the client's proxy: where the load goes. */
  port: number;
  clientProxyPid: number;
  serverProxyPid: number;
  serverAppPid: number | null;
  /** Admin listeners of the two proxies (GET /tap, /metrics). */
  clientAdminUrl: string;
  serverAdminUrl: string;
  /** For the CLI (`trellis apply --state-dir`), and the folder it runs in. */
  stateDir: string;
  cwd: string;
}

export const BENCH_TRUST_DOMAIN = 'bench.trellis.local';

const serverScript = fileURLToPath(new URL('./server.js', import.meta.url));

/**
 * The no-op client app. The mesh file requires at least one port per workload, and the default
 * readiness check is a TCP connect to it, so it listens on $PORT (closing every connection) and
 * otherwise does nothing.
 */
const IDLE_APP =
  "const p=process.env.PORT;if(p){require('net').createServer(s=>s.destroy()).listen(+p,'127.0.0.1')}setInterval(()=>{},1e9)";

/**
 * Telemetry of the Trellis pair (metrics are always on):
 *   off      no tracing, no access log
 *   default  the mesh file's defaults for tracing (1% of new traces, to the control plane), no access log
 *   log      no tracing, the access log to a file (the mesh default `accessLog: file`): its cost
 *            alone, against `off`
 *   full     every request traced and exported, access log to a file
 */
export type TelemetryMode = 'off' | 'default' | 'log' | 'full';

export function meshYaml(outboundPort: number, telemetry: TelemetryMode = 'default'): string {
  // JSON-quoted scalars (JSON is valid YAML): `off` must stay a string.
  const q = (s: string): string => JSON.stringify(s);
  const tracing = telemetry === 'off' || telemetry === 'log' ? '\n  tracing: { enabled: false }' : telemetry === 'full' ? '\n  tracing: { sampling: 1 }' : '';
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: bench
spec:
  trustDomain: ${BENCH_TRUST_DOMAIN}
  controlPlane:
    api: 127.0.0.1:0
    push: 127.0.0.1:0
  accessLog: ${q(telemetry === 'full' || telemetry === 'log' ? 'file' : 'off')}${tracing}
  workloads:
    - name: server
      command: [${q(process.execPath)}, ${q(serverScript)}]
      ports:
        - name: http
          protocol: http
    - name: client
      command: [${q(process.execPath)}, ${q('-e')}, ${q(IDLE_APP)}]
      ports:
        - name: http
          protocol: http
      upstreams:
        - service: server
          port: http
          listen: ${q(`127.0.0.1:${outboundPort}`)}
`;
}

interface ReplicaLike {
  proxyPid?: number | null;
  appPid?: number | null;
  adminUrl?: string;
  state?: string;
}
interface WorkloadLike {
  name?: string;
  replicas?: ReplicaLike[];
}

function getWorkloads(apiUrl: string, cwd: string, stateDir: string): WorkloadLike[] {
  const r = spawnSync(process.execPath, [cliEntry, 'get', 'workloads', '-o', 'json', '--control-plane', apiUrl, '--token', readFileSync(join(stateDir, 'admin-token'), 'utf8').trim()], {
    encoding: 'utf8',
    timeout: 10000,
    cwd,
  });
  if (r.status !== 0) throw new Error(`trellis get workloads failed (${r.status}): ${r.stderr}${r.stdout}`);
  const parsed: unknown = JSON.parse(r.stdout);
  if (Array.isArray(parsed)) return parsed as WorkloadLike[];
  const obj = parsed as { items?: unknown; workloads?: unknown };
  if (Array.isArray(obj.items)) return obj.items as WorkloadLike[];
  if (Array.isArray(obj.workloads)) return obj.workloads as WorkloadLike[];
  throw new Error(`unexpected 'trellis get workloads -o json' output: ${r.stdout.slice(0, 300)}`);
}

function httpStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Last lines of every log under <state-dir>/logs, for failure messages. */
function logTails(stateDir: string): string {
  const dir = join(stateDir, 'logs');
  const out: string[] = [];
  try {
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      out.push(`--- ${f} (last lines) ---\n${text.split('\n').slice(-8).join('\n')}`);
    }
  } catch {
    /* no logs yet */
  }
  return out.join('\n');
}

export async function startTrellisPair(dir: string, outboundPort: number, extraEnv: NodeJS.ProcessEnv = {}, telemetry: TelemetryMode = 'default'): Promise<TrellisPair> {
  const meshDir = join(dir, 'mesh');
  mkdirSync(meshDir, { recursive: true });
  writeFileSync(join(meshDir, 'trellis.yaml'), meshYaml(outboundPort, telemetry));
  const stateDir = join(dir, 'state');
  const cli = startChild('trellis up', process.execPath, [cliEntry, 'up', meshDir, '--state-dir', stateDir], { cwd: dir, env: { ...process.env, ...extraEnv } });
  let m: RegExpExecArray;
  try {
    m = await waitForLine(cli, /^ready api=(\S+)/, 60000, 'trellis up');
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${logTails(stateDir)}`);
  }
  const apiUrl = m[1]!;

  // Proxy pids from the control plane, and a first 200 through the pair (endpoints pushed).
  const until = Date.now() + 30000;
  let clientProxyPid: number | null = null;
  let serverProxyPid: number | null = null;
  let serverAppPid: number | null = null;
  let clientAdminUrl = '';
  let serverAdminUrl = '';
  let lastErr = '';
  while (Date.now() < until) {
    try {
      const ws = getWorkloads(apiUrl, dir, stateDir);
      const c = ws.find((w) => w.name === 'client')?.replicas?.[0];
      const s = ws.find((w) => w.name === 'server')?.replicas?.[0];
      clientProxyPid = c?.proxyPid ?? null;
      serverProxyPid = s?.proxyPid ?? null;
      serverAppPid = s?.appPid ?? null;
      clientAdminUrl = c?.adminUrl ?? '';
      serverAdminUrl = s?.adminUrl ?? '';
      if (clientProxyPid !== null && serverProxyPid !== null && (await httpStatus(outboundPort)) === 200) break;
      lastErr = `pids client=${clientProxyPid} server=${serverProxyPid}, no 200 yet`;
    } catch (e) {
      lastErr = (e as Error).message;
    }
    await sleep(250);
  }
  for (const p of [clientProxyPid, serverProxyPid, serverAppPid]) if (p !== null) trackPid(p);
  if (clientProxyPid === null || serverProxyPid === null || (await httpStatus(outboundPort)) !== 200) {
    throw new Error(`Trellis pair not serving after 30 s: ${lastErr}\n${outputTail(cli)}\n${logTails(stateDir)}`);
  }
  return { cli, apiUrl, port: outboundPort, clientProxyPid, serverProxyPid, serverAppPid, clientAdminUrl, serverAdminUrl, stateDir, cwd: dir };
}
