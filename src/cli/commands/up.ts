import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Agent } from '../../agent/agent.js';
import { killLeftovers } from '../../agent/pids.js';
import { checkFixedAddresses, PortAllocator } from '../../agent/ports.js';
import type { Protocol } from '../../api/common.js';
import { loadMeshFile } from '../../config/load.js';
import type { MeshConfig } from '../../config/types.js';
import { loadResources, type LoadedResource } from '../../config/resources/load.js';
import { readServerPair } from '../../identity/server-pair.js';
import { createLogger, isLogLevel, type LogLevel } from '../../util/log.js';
import { parse, str } from '../args.js';
import { ControlPlaneProcess } from '../control-plane-process.js';
import { UsageError, type Command, type Io } from '../io.js';
import { connectControlPlane } from '../credentials.js';
import { applyLoaded } from './apply.js';
import { onSignals } from '../lifecycle.js';
import { removeUserContext, writeUserContext, type UpContext } from '../user-context.js';

const usage = `Usage: trellis up [dir|file] [--state-dir D] [--log-level L]

Validates the mesh file (<dir>/trellis.yaml, default ./trellis.yaml) and every *.yaml in
<dir>/resources/ (routes and policies, docs/configuration.md), starts the control plane as a
child process, applies those resources, then every workload with its proxy and every ingress, and prints
one line on stdout once all are ready:

  ready api=<apiUrl> dashboard=<apiUrl>/dashboard/?token=<read token> push=<pushUrl> ingress.<name>=http://<host>:<port> ingress.<name>.tls=https://<host>:<port> ...

The dashboard link signs the browser in (a cookie) with the state directory's read token;
the CLI finds <state-dir>/admin-token by itself (docs/operations.md, "Credentials").

Ctrl-C (SIGINT) or SIGTERM stops everything in order and exits 0; a second signal kills.

Options:
  --state-dir D      state directory (default ./.trellis): logs/, run/, store, CA
  --log-level L      trace|debug|info|warn|error (default info); the log goes to <state-dir>/logs/agent.log,
                     warnings and errors also to stderr
  -h, --help         this text
`;

/**
 * How to call an ingress from outside the mesh, by the protocol of the service port it serves:
 * HTTP/1.1 with curl, HTTP/2 with curl over h2c (the ingress speaks cleartext HTTP/2 with prior
 * knowledge, as gRPC clients do), gRPC with grpcurl, opaque TCP with nc. A TLS listener
 * (`https://`) is called by a host name its certificate serves (`serverName`), pinned to the
 * listener's address with --resolve so no DNS is needed.
 */
export function tryCommand(protocol: Protocol, url: string, serverName = 'localhost'): string {
  const u = new URL(url);
  const hostPort = u.host;
  const ip = u.hostname.replace(/^\[|\]$/g, '');
  if (u.protocol === 'https:') {
    const named = `https://${serverName}:${u.port}`;
    const resolve = `--resolve ${serverName}:${u.port}:${ip}`;
    switch (protocol) {
      case 'http':
        return `curl ${resolve} ${named}/`;
      case 'http2':
        return `curl --http2 ${resolve} ${named}/`;
      case 'grpc':
        return `grpcurl -servername ${serverName} -proto <file>.proto ${hostPort} <package.Service>/<Method>`;
      case 'tcp':
        return `openssl s_client -connect ${hostPort} -servername ${serverName}`;
    }
  }
  switch (protocol) {
    case 'http':
      return `curl ${url}/`;
    case 'http2':
      return `curl --http2-prior-knowledge ${url}/`;
    case 'grpc':
      return `grpcurl -plaintext -proto <file>.proto ${hostPort} <package.Service>/<Method>`;
    case 'tcp':
      return `nc ${ip} ${u.port}`;
  }
}

/** A name the ingress's default certificate serves (for the hint): its first `hosts`, else the certificate's first DNS name. */
function serverNameOf(g: MeshConfig['ingress'][number]): string {
  const first = g.tls?.certificates[0];
  if (first === undefined) return 'localhost';
  const r = readServerPair(first.certFile, first.keyFile, Date.now());
  const names = [...first.hosts, ...(r.ok ? r.pair.dnsNames : [])].filter((n) => !n.startsWith('*.'));
  return names[0] ?? 'localhost';
}

/** The lines `up` prints on stderr once ready: where the logs are, one way to call each ingress, what next. */
export function upBanner(mesh: MeshConfig, logDir: string, ingress: { name: string; url: string }[]): string {
  const tries = ingress.map((i) => {
    const g = mesh.ingress.find((x) => x.name === i.name.replace(/\.tls$/, ''));
    const protocol = g?.protocol ?? 'http';
    const tls = i.url.startsWith('https:');
    return `${tryCommand(protocol, i.url, g !== undefined && tls ? serverNameOf(g) : undefined)}   (ingress ${i.name}, ${protocol}${tls ? ' over TLS' : ''})`;
  });
  return (
    `trellis: mesh "${mesh.name}" is up (${mesh.workloads.length} workload(s)); logs in ${logDir}\n` +
    tries.map((t, n) => `${n === 0 ? '  try:  ' : '        '}${t}\n`).join('') +
    `  then: trellis get workloads   (from any folder; npx trellis inside the clone; Ctrl-C stops the mesh)\n`
  );
}

/** The dashboard's login link: opening it signs the browser in with `token` (src/control/auth/dashboard-login.ts). */
export function dashboardLink(apiUrl: string, token: string | null): string {
  return token === null ? `${apiUrl}/dashboard/` : `${apiUrl}/dashboard/?token=${encodeURIComponent(token)}`;
}

/** The `ready ...` line `up` prints on stdout. */
export function readyLine(apiUrl: string, pushUrl: string, ingress: { name: string; url: string }[], dashboardToken: string | null = null): string {
  return ['ready', `api=${apiUrl}`, `dashboard=${dashboardLink(apiUrl, dashboardToken)}`, `push=${pushUrl}`, ...ingress.map((i) => `ingress.${i.name}=${i.url}`)].join(' ') + '\n';
}

export function parseLogLevel(value: string | undefined, usageText: string): LogLevel {
  const level = value ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be one of trace, debug, info, warn, error (got "${level}")`, usageText);
  return level;
}

/** trace..error as the proxies take it. */
export function proxyLevel(level: LogLevel): 'trace' | 'debug' | 'info' | 'warn' | 'error' {
  return level === 'fatal' || level === 'silent' ? 'error' : level;
}

export const upCommand: Command = {
  name: 'up',
  usage,
  async run(argv, io) {
    const p = parse(argv, { 'state-dir': { type: 'string' }, 'log-level': { type: 'string' } }, usage, io.out, 1);
    if (p === null) return 0;
    const level = parseLogLevel(str(p, 'log-level'), usage);
    const mesh = await loadMeshFile(resolve(io.cwd, p.positionals[0] ?? '.'));
    const resources = await loadMeshResources(mesh.dir);
    const stateDir = resolve(io.cwd, str(p, 'state-dir') ?? '.trellis');
    await mkdir(join(stateDir, 'logs'), { recursive: true });
    await mkdir(join(stateDir, 'run'), { recursive: true, mode: 0o700 });
    const logger = createLogger({ level, file: join(stateDir, 'logs', 'agent.log') });
    return runUp(io, { mesh, stateDir, level, logger, resources });
  },
};

/** `<meshDir>/resources/*.yaml`, validated (file:line errors) before anything starts; none when the folder is absent. */
export async function loadMeshResources(meshDir: string): Promise<LoadedResource[]> {
  const dir = join(meshDir, 'resources');
  try {
    if (!(await stat(dir)).isDirectory()) return [];
  } catch {
    return [];
  }
  return loadResources(dir, meshDir);
}

/**
 * Records this `up` in the per-user config (./user-context.ts) so the CLI finds its control
 * plane from any folder. Not being able to write it (a read-only home) costs only that.
 */
function recordUp(io: Io, logger: Logger, context: UpContext): void {
  try {
    const path = writeUserContext(io.env, context);
    if (path !== null) logger.info({ path }, 'recorded this mesh for the CLI');
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not record this mesh in the per-user config; the CLI finds it from the mesh folder or with --control-plane');
  }
}

function forgetUp(io: Io, logger: Logger): void {
  try {
    removeUserContext(io.env, process.pid);
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not remove this mesh from the per-user config (it is ignored once this process is gone)');
  }
}

async function runUp(
  io: Io,
  s: { mesh: Awaited<ReturnType<typeof loadMeshFile>>; stateDir: string; level: LogLevel; logger: ReturnType<typeof createLogger>; resources: LoadedResource[] },
): Promise<number> {
  const { mesh, stateDir, logger } = s;
  await killLeftovers(stateDir, logger);
  await ControlPlaneProcess.killStale(stateDir, logger);
  const ports = new PortAllocator();
  const api = await ports.claim(mesh.controlPlane.api, 'spec.controlPlane.api');
  const push = await ports.claim(mesh.controlPlane.push, 'spec.controlPlane.push');
  await checkFixedAddresses(mesh);

  const cp = new ControlPlaneProcess({ stateDir, api, push, trustDomain: mesh.trustDomain, certTtlMs: mesh.certificateTtlMs, logLevel: s.level === 'silent' ? 'error' : s.level, tracing: mesh.tracing, defaultAction: mesh.authorization.defaultAction, logger });
  let agent: Agent | null = null;
  let shuttingDown: Promise<number> | null = null;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => (finish = r));

  const shutdown = async (): Promise<number> => {
    io.err('trellis: stopping (Ctrl-C again to kill)\n');
    try {
      await agent?.stop();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'agent stop failed');
    }
    await cp.stop();
    forgetUp(io, logger);
    return 0;
  };
  const removeSignals = onSignals(
    () => {
      shuttingDown ??= shutdown();
      void shuttingDown.then(finish);
    },
    () => {
      agent?.kill();
      cp.kill();
      forgetUp(io, logger);
      finish(130);
    },
  );

  try {
    const info = await cp.start();
    if (shuttingDown !== null) return await finished;
    if (s.resources.length > 0) {
      const applied = await applyLoaded(connectControlPlane(info.apiUrl, io, stateDir), s.resources, false);
      logger.info({ resources: applied.results.map((r) => `${r.kind} ${r.namespace}/${r.name} ${r.action}`) }, 'applied mesh resources');
    }
    // host null: one machine runs every host's share of a mesh file that places workloads on hosts.
    agent = new Agent({ mesh, stateDir, controlPlaneUrl: info.apiUrl, logger, proxyLogLevel: proxyLevel(s.level), host: null });
    await agent.start();
    const readToken = await readFile(join(stateDir, 'read-token'), 'utf8').then((t) => t.trim(), () => null);
    io.out(readyLine(info.apiUrl, info.pushUrl, agent.ingressUrls(), readToken));
    recordUp(io, logger, { apiUrl: info.apiUrl, stateDir, meshFile: mesh.file, pid: process.pid, startedAt: new Date().toISOString() });
    io.err(upBanner(mesh, join(stateDir, 'logs'), agent.ingressUrls()));
    for (const line of agent.appWarnings()) io.err(`trellis: warning: ${line}\n`);
  } catch (err) {
    if (shuttingDown !== null) return await finished;
    removeSignals();
    await agent?.stop().catch(() => {});
    await cp.stop();
    throw err;
  }
  const code = await finished;
  removeSignals();
  return code;
}
