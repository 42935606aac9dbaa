import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { writeAtomic } from '../identity/ca.js';

/** Creates the state directory with mode 0700 (and tightens an existing one). */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** The agent token: random on first start (0600), the same on every later start. */
export async function loadOrCreateToken(path: string): Promise<string> {
  try {
    const t = (await readFile(path, 'utf8')).trim();
    if (t.length >= 32) return t;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('hex');
  await writeAtomic(path, `${token}\n`, 0o600);
  return token;
}

export interface ControlPlaneInfo {
  pid: number;
  apiUrl: string;
  pushUrl: string;
  trustDomain: string;
}

export async function writeInfo(path: string, info: ControlPlaneInfo): Promise<void> {
  await writeAtomic(path, `${JSON.stringify(info, null, 2)}\n`, 0o600);
}

/** Removes the info file if it still describes this process. */
export async function removeInfo(path: string, pid: number): Promise<void> {
  try {
    const info = JSON.parse(await readFile(path, 'utf8')) as Partial<ControlPlaneInfo>;
    if (info.pid === pid) await rm(path, { force: true });
  } catch {
    // already gone or unreadable: nothing to clean up
  }
}
