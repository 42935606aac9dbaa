import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Io } from './io.js';
import { pidAlive, readUserContext } from './user-context.js';

export const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:15000';

/** Where the control plane's address came from, in the order they are tried. */
export type ControlPlaneSource = 'flag' | 'env' | 'mesh-folder' | 'user-context' | 'default';

export interface ResolvedControlPlane {
  url: string;
  source: ControlPlaneSource;
  /** Says where the address came from, for error messages. */
  detail: string;
  /** The state directory that goes with it, when known (its agent-token authorizes writes). */
  stateDir?: string;
}

function readMeshFolderInfo(stateDir: string, alive: (pid: number) => boolean): string | null {
  try {
    const info = JSON.parse(readFileSync(join(stateDir, 'control-plane.json'), 'utf8')) as { apiUrl?: unknown; pid?: unknown };
    if (typeof info.apiUrl !== 'string') return null;
    // The control plane removes the file when it stops; one left by a killed control plane is stale.
    if (typeof info.pid === 'number' && !alive(info.pid)) return null;
    return info.apiUrl;
  } catch {
    return null; // no mesh here
  }
}

/**
 * Where the control plane is (docs/cli.md, "Finding the control plane"), first found wins:
 * `--control-plane`, `$TRELLIS_CONTROL_PLANE`, the mesh in the current folder
 * (`./.trellis/control-plane.json`, written by its control plane), the last `trellis up`
 * recorded in the per-user config (./user-context.ts), then the default address.
 */
export function resolveControlPlane(flag: string | undefined, io: Io, alive: (pid: number) => boolean = pidAlive): ResolvedControlPlane {
  if (flag !== undefined) return { url: flag.replace(/\/+$/, ''), source: 'flag', detail: '--control-plane' };
  const env = io.env.TRELLIS_CONTROL_PLANE;
  if (env !== undefined && env !== '') return { url: env.replace(/\/+$/, ''), source: 'env', detail: '$TRELLIS_CONTROL_PLANE' };
  const local = join(io.cwd, '.trellis');
  const here = readMeshFolderInfo(local, alive);
  if (here !== null) return { url: here.replace(/\/+$/, ''), source: 'mesh-folder', detail: `${join(local, 'control-plane.json')} (the mesh in this folder)`, stateDir: local };
  const user = readUserContext(io.env, alive);
  if (user.state === 'live') {
    const c = user.context;
    return { url: c.apiUrl.replace(/\/+$/, ''), source: 'user-context', detail: `${user.path} (the last \`trellis up\`, of ${c.meshFile}, pid ${c.pid})`, stateDir: c.stateDir };
  }
  const record = user.path === null ? 'no per-user config ($HOME is not set)' : user.state === 'stale' ? `only a stale record in ${user.path} (its \`trellis up\`, pid ${user.context.pid}, is gone)` : `no running \`trellis up\` recorded in ${user.path}`;
  return { url: DEFAULT_CONTROL_PLANE, source: 'default', detail: `the default: no --control-plane, no $TRELLIS_CONTROL_PLANE, no ./.trellis/control-plane.json here, ${record}` };
}

/** What controlPlaneUrl() found for an invocation, for its error messages and token lookup. */
const resolutions = new WeakMap<Io, ResolvedControlPlane>();

/** The control plane's URL for this invocation (resolveControlPlane), remembered for lastResolution(). */
export function controlPlaneUrl(flag: string | undefined, io: Io): string {
  const r = resolveControlPlane(flag, io);
  resolutions.set(io, r);
  return r.url;
}

export function rememberResolution(io: Io, r: ResolvedControlPlane): void {
  resolutions.set(io, r);
}

/** True when two URLs have the same scheme, host and port. */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/**
 * The state directory of a running control plane at `url`: the mesh in this folder or the last
 * `trellis up`, when its address is that one. So `--control-plane <its URL>` still finds the
 * local credentials.
 */
export function stateDirServing(url: string, io: Io, alive: (pid: number) => boolean = pidAlive): string | undefined {
  const local = join(io.cwd, '.trellis');
  const here = readMeshFolderInfo(local, alive);
  if (here !== null && sameOrigin(here, url)) return local;
  const user = readUserContext(io.env, alive);
  if (user.state === 'live' && sameOrigin(user.context.apiUrl, url)) return user.context.stateDir;
  return undefined;
}

export function lastResolution(io: Io): ResolvedControlPlane | undefined {
  return resolutions.get(io);
}

/** A line saying where an unreachable control plane's address came from, when the error is about it. */
export function unreachableHint(io: Io, message: string): string | null {
  const r = resolutions.get(io);
  if (r === undefined) return null;
  let origin: string;
  try {
    origin = new URL(r.url).origin;
  } catch {
    return `the address "${r.url}" came from ${r.detail}`;
  }
  if (!message.includes(origin)) return null;
  const fix = r.source === 'flag' || r.source === 'env' ? '' : '; start the mesh with `trellis up`, or point at it with --control-plane URL or $TRELLIS_CONTROL_PLANE';
  return `${origin} came from ${r.detail}${fix}`;
}
