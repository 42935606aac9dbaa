/**
 * Start whole meshes for integration tests, as a user would: write a mesh folder to a temp dir
 * (fixture apps copied in, node_modules linked so .mjs apps can import @grpc/grpc-js and ws),
 * run `trellis up`, wait for its `ready` line, and on stop assert that `up` exited 0 and that no
 * process of the mesh is left (a /proc scan for the temp dir in command lines and working dirs).
 * Also start the control plane and the agent as separate processes (restart tests).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import type { WorkloadView, ProxyView } from '../../src/api/registry.js';
import { unreachable } from '../../src/agent/run-as/reach.js';
import { controlPlaneTlsOptions } from '../../src/identity/control-plane-tls.js';
import { cliEntry, packageRoot } from '../../src/util/paths.js';
import { processesMentioning, runCli, sleep, waitFor, type CliResult, type ProcInfo } from './proc.js';

export const fixturesDir = join(packageRoot, 'test', 'fixtures');
export const shopDir = join(packageRoot, 'examples', 'shop');

export interface MeshDir {
  /** Temp folder holding trellis.yaml, the fixture apps and (by default) the state dir. */
  dir: string;
  meshFile: string;
  stateDir: string;
  /** Kill whatever still mentions dir, then remove it; throws listing leftovers if any. */
  cleanup(): Promise<void>;
}

export interface MeshFolderOptions {
  meshYaml: string;
  /** Extra files written next to trellis.yaml (name -> content). */
  files?: Record<string, string>;
  stateDir?: string;
  /** chmod the folder 0755, so apps the agent runs as another user can enter it (mkdtemp makes it 0700). */
  openToOthers?: boolean;
}

/** Writes a mesh folder: every file of test/fixtures/, `files`, trellis.yaml, node_modules link. */
export async function writeMeshDir(opts: MeshFolderOptions): Promise<MeshDir> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'trellis-it-')));
  if (opts.openToOthers === true) await chmod(dir, 0o755);
  for (const name of await readdir(fixturesDir)) {
    if ((await stat(join(fixturesDir, name))).isFile()) await copyFile(join(fixturesDir, name), join(dir, name));
  }
  await linkNodeModules(dir, opts.openToOthers === true);
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  const meshFile = join(dir, 'trellis.yaml');
  await writeFile(meshFile, opts.meshYaml);
  const stateDir = opts.stateDir ?? join(dir, 'state');
  await mkdir(stateDir, { recursive: true });
  return {
    dir,
    meshFile,
    stateDir,
    cleanup: async () => {
      const left = await killLeftovers(dir);
      if (left.length > 0) throw new Error(`processes of ${dir} were still running (killed now):\n${formatProcs(left)}`);
      if (process.env.TRELLIS_KEEP_TMP === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Gives the mesh folder the package's node_modules: a symlink, unless the folder is open to
 * apps run as another user and they could not follow it (a clone inside a private folder, as
 * `mktemp -d` makes: 0700), which would fail their imports. Then a copy stands in, hard-linked
 * where the file system allows (the files are shared, only the folders are new).
 */
async function linkNodeModules(dir: string, openToOthers: boolean): Promise<void> {
  const modules = join(packageRoot, 'node_modules');
  const target = join(dir, 'node_modules');
  if (!openToOthers || (await unreachable(modules, { uid: 65534, gid: 65534 }, 'enter')) === null) {
    await symlink(modules, target, 'dir');
    return;
  }
  await execFileAsync('cp', ['-al', modules, target]).catch(async () => {
    await rm(target, { recursive: true, force: true });
    await execFileAsync('cp', ['-r', modules, target]);
  });
}

const execFileAsync = promisify(execFile);

function formatProcs(procs: ProcInfo[]): string {
  return procs.map((p) => `  pid ${p.pid} cwd=${p.cwd} cmd=${p.cmdline}`).join('\n');
}

/**
 * Waits (bounded) for every process that mentions dir to go; those still there after graceMs
 * are SIGKILLed (they are this test's own processes) and returned, so the caller can fail.
 */
export async function killLeftovers(dir: string, graceMs = 10_000): Promise<ProcInfo[]> {
  const deadline = Date.now() + graceMs;
  let left = processesMentioning(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(200);
    left = processesMentioning(dir);
  }
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return left;
}

export interface ReadyLine {
  apiUrl: string;
  /** The dashboard's URL (served by the control plane). */
  dashboardUrl: string;
  pushUrl: string;
  ingress: Record<string, string>;
}

/** Parses `ready api=<url> dashboard=<url> push=<url> ingress.<name>=<url> ...`. */
export function parseReadyLine(line: string): ReadyLine {
  const fields = new Map<string, string>();
  for (const token of line.trim().split(/\s+/).slice(1)) {
    const eq = token.indexOf('=');
    if (eq > 0) fields.set(token.slice(0, eq), token.slice(eq + 1));
  }
  const apiUrl = fields.get('api');
  const pushUrl = fields.get('push');
  const dashboardUrl = fields.get('dashboard');
  if (apiUrl === undefined || pushUrl === undefined || dashboardUrl === undefined) throw new Error(`ready line without api=, dashboard= or push=: ${line}`);
  const ingress: Record<string, string> = {};
  for (const [k, v] of fields) if (k.startsWith('ingress.')) ingress[k.slice('ingress.'.length)] = v;
  return { apiUrl, dashboardUrl, pushUrl, ingress };
}

/** Commands that talk to the control plane: cli() adds `--control-plane <apiUrl>` to them. */
const CONTROL_PLANE_COMMANDS = new Set(['get', 'proxy-config', 'check', 'stat', 'edges', 'tap', 'top', 'why']);

export interface ControlPlaneClient {
  apiUrl: string;
  /** Runs the CLI (with cliEnv()); adds `--control-plane <apiUrl>` to get/proxy-config/check. */
  cli(args: string[], opts?: { timeoutMs?: number }): Promise<CliResult>;
  /** `trellis get <kind> -o json`, parsed; throws with stderr unless it exits 0. */
  getJson<T>(kind: 'services' | 'workloads' | 'endpoints' | 'proxies'): Promise<T>;
  /** GET <apiUrl><path> on the REST API with the admin token, parsed JSON; throws unless 200. */
  api<T>(path: string): Promise<T>;
  /** `authorization: Bearer <the state directory's admin token>` for a test's own requests to the API. */
  authHeaders(): Record<string, string>;
  /** The environment a CLI run needs to find this control plane's credentials as a user's shell would. */
  cliEnv(): NodeJS.ProcessEnv;
  /** For an https:// API: an undici Agent verifying it against the state directory's CA. */
  dispatcher(): Agent | undefined;
}

/**
 * A client of one control plane. Its credentials are the state directory's, found the way a
 * user's CLI finds them: through `env` (a mesh started by `up` recorded itself in
 * XDG_CONFIG_HOME) or, without it, $TRELLIS_TOKEN set to `<stateDir>/admin-token`.
 */
export function controlPlaneClient(apiUrl: string, cwd?: string, creds: { stateDir?: string; env?: NodeJS.ProcessEnv } = {}): ControlPlaneClient {
  const adminToken = (): string | undefined => {
    if (creds.stateDir === undefined) return undefined;
    try {
      return readFileSync(join(creds.stateDir, 'admin-token'), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  let tls: Agent | undefined;
  const client: ControlPlaneClient = {
    apiUrl,
    authHeaders(): Record<string, string> {
      const t = adminToken();
      return t === undefined ? {} : { authorization: `Bearer ${t}` };
    },
    cliEnv() {
      if (creds.env !== undefined) return creds.env;
      const t = adminToken();
      const ca = apiUrl.startsWith('https:') && creds.stateDir !== undefined ? { TRELLIS_CA_FILE: join(creds.stateDir, 'ca', 'root.crt') } : {};
      return { ...process.env, ...(t === undefined ? {} : { TRELLIS_TOKEN: t }), ...ca };
    },
    dispatcher() {
      if (!apiUrl.startsWith('https:') || creds.stateDir === undefined) return undefined;
      tls ??= new Agent({ connect: controlPlaneTlsOptions([readFileSync(join(creds.stateDir, 'ca', 'root.crt'), 'utf8')]) });
      return tls;
    },
    cli(args, opts) {
      const full = [...args];
      if (CONTROL_PLANE_COMMANDS.has(args[0] ?? '') && !args.includes('--control-plane')) full.push('--control-plane', apiUrl);
      return runCli(full, { env: client.cliEnv(), ...(opts?.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}), ...(cwd !== undefined ? { cwd } : {}) });
    },
    async getJson<T>(kind: string): Promise<T> {
      const r = await client.cli(['get', kind, '-o', 'json']);
      if (r.code !== 0) throw new Error(`trellis get ${kind} -o json exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    async api<T>(path: string): Promise<T> {
      const dispatcher = client.dispatcher();
      const res = await request(`${apiUrl}${path}`, { headers: client.authHeaders(), headersTimeout: 10_000, bodyTimeout: 10_000, ...(dispatcher !== undefined ? { dispatcher } : {}) });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`GET ${path} -> ${res.statusCode}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as T;
    },
  };
  return client;
}

export interface Mesh extends ControlPlaneClient, ReadyLine {
  dir: string;
  meshFile: string;
  stateDir: string;
  /** $XDG_CONFIG_HOME of the `up` process (where it records itself for the CLI). */
  configHome: string;
  readyLine: string;
  /** The `up` process. */
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** SIGTERM to `up`, wait for exit 0, assert no process of the mesh remains. Idempotent. */
  stop(): Promise<void>;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function tail(text: string, chars = 4000): string {
  return text.length > chars ? `...${text.slice(-chars)}` : text;
}

/** Writes the mesh folder, runs `trellis up`, waits for the ready line. */
export async function startMesh(opts: MeshFolderOptions & { readyTimeoutMs?: number; env?: NodeJS.ProcessEnv; wrap?: string[] }): Promise<Mesh> {
  const md = await writeMeshDir(opts);
  // `up` records itself in the per-user config: a folder of the test's own, never the user's.
  const configHome = join(md.dir, 'config');
  // `wrap`: a program that execs the rest (e.g. nsenter into a test's network namespace), so the child is still `up` itself.
  const argv = [...(opts.wrap ?? []), process.execPath, cliEntry, 'up', md.dir, '--state-dir', md.stateDir];
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: md.dir,
    env: { ...(opts.env ?? process.env), XDG_CONFIG_HOME: configHome },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;

  let readyLine: string;
  try {
    readyLine = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`trellis up printed no ready line within ${readyTimeoutMs} ms\nstdout:\n${tail(stdout)}\nstderr:\n${tail(stderr)}`)),
        readyTimeoutMs,
      );
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const line = stdout.split('\n').find((l) => l.startsWith('ready '));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        // Let the last stderr bytes arrive before reporting.
        setTimeout(() => reject(new Error(`trellis up exited (code ${code}, signal ${signal}) before ready\nstdout:\n${tail(stdout)}\nstderr:\n${tail(stderr)}`)), 100);
      });
    });
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 15_000))) child.kill('SIGKILL');
    }
    await md.cleanup().catch(() => undefined);
    throw err;
  }

  const ready = parseReadyLine(readyLine);
  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    const problems: string[] = [];
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    if (!(await waitExit(child, 30_000))) {
      problems.push('trellis up did not exit within 30 s of SIGTERM (killed)');
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    } else if (child.exitCode !== 0) {
      problems.push(`trellis up exited with code ${child.exitCode} signal ${child.signalCode} after SIGTERM (expected 0)`);
    }
    const left = await killLeftovers(md.dir);
    if (left.length > 0) problems.push(`processes of the mesh still running after up exited (killed now):\n${formatProcs(left)}`);
    if (problems.length > 0) throw new Error(`${problems.join('\n')}\nstderr of up:\n${tail(stderr)}\n(mesh folder kept: ${md.dir})`);
    if (process.env.TRELLIS_KEEP_TMP === undefined) await rm(md.dir, { recursive: true, force: true });
  };

  return {
    ...controlPlaneClient(ready.apiUrl, md.dir, { stateDir: md.stateDir, env: { ...process.env, XDG_CONFIG_HOME: configHome } }),
    ...ready,
    dir: md.dir,
    meshFile: md.meshFile,
    stateDir: md.stateDir,
    configHome,
    readyLine,
    child,
    output: () => ({ stdout, stderr }),
    stop: () => (stopping ??= stop()),
  };
}

/**
 * The demo mesh examples/shop as startMesh options, with the ingress and control-plane ports
 * set to 0 so tests do not collide with a running demo or each other.
 */
export async function shopMeshFiles(): Promise<MeshFolderOptions> {
  const files: Record<string, string> = {};
  // Top-level files and the resource folders (resources/ is loaded by `up`, canary/ and faults/ are the README's walk-throughs).
  for (const name of await readdir(shopDir)) {
    if (name === 'trellis.yaml' || name.startsWith('.')) continue;
    const path = join(shopDir, name);
    if ((await stat(path)).isFile()) files[name] = await readFile(path, 'utf8');
    else if (name === 'resources' || name === 'canary' || name === 'faults') {
      for (const inner of await readdir(path)) files[`${name}/${inner}`] = await readFile(join(path, inner), 'utf8');
    }
  }
  const doc = YAML.parseDocument(await readFile(join(shopDir, 'trellis.yaml'), 'utf8'));
  doc.setIn(['spec', 'controlPlane', 'api'], '127.0.0.1:0');
  doc.setIn(['spec', 'controlPlane', 'push'], '127.0.0.1:0');
  const ingress = doc.getIn(['spec', 'ingress']);
  if (YAML.isSeq(ingress)) {
    ingress.items.forEach((_item, i) => doc.setIn(['spec', 'ingress', i, 'listen'], '127.0.0.1:0'));
  }
  return { meshYaml: doc.toString(), files };
}

export interface SpawnedProcess {
  child: ChildProcess;
  pid: number;
  output(): { stdout: string; stderr: string };
  /** Sends the signal and waits (bounded) for the exit. */
  kill(signal: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

/** `trellis <args>` as a child process (stdout and stderr kept). */
export function spawnCli(args: string[], cwd: string): SpawnedProcess {
  const child = spawn(process.execPath, [cliEntry, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return {
    child,
    pid: child.pid ?? -1,
    output: () => ({ stdout, stderr }),
    async kill(signal, timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      if (!(await waitExit(child, timeoutMs))) {
        child.kill('SIGKILL');
        await waitExit(child, 5_000);
        throw new Error(`trellis ${args[0]} did not exit within ${timeoutMs} ms of ${signal}\nstderr:\n${tail(stderr)}`);
      }
    },
  };
}

export interface ControlPlaneProcess extends SpawnedProcess, ControlPlaneClient {
  pushUrl: string;
}

/** `trellis control-plane` on fixed ports; resolves when GET /healthz answers 200. */
export async function startControlPlane(opts: {
  cwd: string;
  stateDir: string;
  apiPort: number;
  pushPort: number;
  trustDomain?: string;
  certTtl?: string;
  /** More flags (e.g. `--store etcd://...`). */
  args?: string[];
  /** `--api-tls`: HTTPS on loopback, as it is off loopback. */
  apiTls?: boolean;
}): Promise<ControlPlaneProcess> {
  const api = `127.0.0.1:${opts.apiPort}`;
  const push = `127.0.0.1:${opts.pushPort}`;
  const proc = spawnCli(
    [
      'control-plane', '--state-dir', opts.stateDir, '--api', api, '--push', push, '--trust-domain', opts.trustDomain ?? 'trellis.local', '--cert-ttl', opts.certTtl ?? '1h',
      ...(opts.apiTls === true ? ['--api-tls'] : []),
      ...(opts.args ?? []),
    ],
    opts.cwd,
  );
  const apiUrl = `${opts.apiTls === true ? 'https' : 'http'}://${api}`;
  // /healthz only says it is up: no need to verify who answers yet.
  const probe = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    await waitFor(`control plane /healthz on ${api}`, async () => {
      if (proc.child.exitCode !== null) throw new Error(`control plane exited with ${proc.child.exitCode}: ${proc.output().stderr}`);
      const res = await request(`${apiUrl}/healthz`, { headersTimeout: 2000, dispatcher: probe });
      await res.body.text();
      return res.statusCode === 200;
    });
  } catch (err) {
    await proc.kill('SIGKILL').catch(() => undefined);
    throw err;
  } finally {
    await probe.close();
  }
  return { ...proc, ...controlPlaneClient(apiUrl, opts.cwd, { stateDir: opts.stateDir }), pushUrl: `https://${push}` };
}

/**
 * `trellis agent <meshFile>`; resolves when every replica of `expectWorkloads` workloads is ready.
 * `apiUrl` may list several control-plane replicas (comma-separated); readiness is asked of the first.
 */
export async function startAgent(opts: { cwd: string; meshFile: string; stateDir: string; apiUrl: string; expectWorkloads: number }): Promise<SpawnedProcess> {
  const proc = spawnCli(['agent', opts.meshFile, '--control-plane', opts.apiUrl, '--state-dir', opts.stateDir], opts.cwd);
  const client = controlPlaneClient(opts.apiUrl.split(',')[0] as string, undefined, { stateDir: opts.stateDir });
  try {
    await waitFor(
      `agent: ${opts.expectWorkloads} workloads with every replica ready and every proxy connected`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`agent exited with ${proc.child.exitCode}: ${proc.output().stderr}`);
        return meshSettled(client, opts.expectWorkloads);
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
  } catch (err) {
    await proc.kill('SIGTERM', 15_000).catch(() => undefined);
    throw err;
  }
  return proc;
}

/** True when expectWorkloads workloads are registered, every replica ready, every proxy connected. */
export async function meshSettled(client: ControlPlaneClient, expectWorkloads: number): Promise<boolean> {
  const workloads = await client.api<WorkloadView[]>('/api/v1/workloads');
  if (workloads.length < expectWorkloads) return false;
  if (!workloads.every((w) => w.replicas.length > 0 && w.replicas.every((r) => r.state === 'ready'))) return false;
  const proxies = await client.api<ProxyView[]>('/api/v1/proxies');
  return proxies.length > 0 && proxies.every((p) => p.connected);
}

/** An undici Agent for a test; close it in the test's cleanup. */
export function httpAgent(): Agent {
  return new Agent({ connections: 16, keepAliveTimeout: 2_000 });
}
