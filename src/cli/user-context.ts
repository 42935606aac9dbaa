import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/**
 * The per-user record of the last `trellis up`, so the CLI finds its control plane from any
 * directory: `$XDG_CONFIG_HOME/trellis/context.json`, else `$HOME/.config/trellis/context.json`
 * (the XDG base directory rule). `up` writes it once the mesh is ready and removes it when it
 * stops; a record whose `up` is no longer running (killed, or the machine rebooted) is stale
 * and ignored. It holds no secret: the API token stays in the state directory (mode 0600),
 * which the record names. The file is still private (0600, folder 0700): it says where a
 * user's meshes run.
 */
export interface UpContext {
  apiUrl: string;
  /** The state directory of that `up` (its `agent-token` authorizes writes). */
  stateDir: string;
  meshFile: string;
  /** The `trellis up` process. */
  pid: number;
  startedAt: string;
}

type Env = Record<string, string | undefined>;

/** Where the record lives for this environment; null when neither XDG_CONFIG_HOME nor HOME is set. */
export function userContextPath(env: Env): string | null {
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec: a relative value is invalid and must be ignored.
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'trellis', 'context.json');
  const home = env.HOME;
  if (home !== undefined && home !== '' && isAbsolute(home)) return join(home, '.config', 'trellis', 'context.json');
  return null;
}

/** True while a process with this pid exists (EPERM: it exists, as another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isContext(v: unknown): v is UpContext {
  const c = v as Partial<UpContext> | null;
  return typeof c === 'object' && c !== null && typeof c.apiUrl === 'string' && typeof c.stateDir === 'string' && typeof c.meshFile === 'string' && Number.isSafeInteger(c.pid) && (c.pid ?? 0) > 0;
}

export type ReadContext = { state: 'none'; path: string | null } | { state: 'stale' | 'live'; path: string; context: UpContext };

/** The recorded `up`: live, stale (its process is gone), or none (no file, or not one of ours). */
export function readUserContext(env: Env, alive: (pid: number) => boolean = pidAlive): ReadContext {
  const path = userContextPath(env);
  if (path === null) return { state: 'none', path };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return { state: 'none', path };
  }
  if (!isContext(parsed)) return { state: 'none', path };
  return { state: alive(parsed.pid) ? 'live' : 'stale', path, context: parsed };
}

/** Records a running `up` (replacing an earlier record); written whole or not at all. Returns the path, or null when there is no home. */
export function writeUserContext(env: Env, context: UpContext): string | null {
  const path = userContextPath(env);
  if (path === null) return null;
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(context, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/** Removes the record if it is still this `up`'s (a later `up` may have replaced it). */
export function removeUserContext(env: Env, pid: number): void {
  const r = readUserContext(env, () => true);
  if (r.state === 'none' || r.context.pid !== pid) return;
  rmSync(r.path, { force: true });
}
