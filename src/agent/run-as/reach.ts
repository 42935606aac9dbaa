import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Who asks: a uid and its one group (libuv drops supplementary groups when it switches user). */
export interface Who {
  uid: number;
  gid: number;
}

type Need = 'search' | 'read' | 'exec';

const BITS: Record<Need, number> = { search: 0o1, read: 0o4, exec: 0o1 };

/** Whether `who` has `need` on a file with this mode and owner (the kernel's owner > group > other rule). */
export function allowed(mode: number, owner: number, group: number, who: Who, need: Need): boolean {
  if (who.uid === 0) return need !== 'exec' || (mode & 0o111) !== 0;
  const bit = BITS[need];
  if (owner === who.uid) return (mode & (bit << 6)) !== 0;
  if (group === who.gid) return (mode & (bit << 3)) !== 0;
  return (mode & bit) !== 0;
}

/**
 * The first path on the way to `target` that `who` cannot pass, with why; null when it can reach
 * it. The agent runs as root, so access() would answer for root: this reads the mode bits as the
 * kernel would for `who` (ACLs aside; a denial by an ACL still shows as the app's own error).
 */
export async function unreachable(target: string, who: Who, need: 'enter' | 'run'): Promise<string | null> {
  const path = resolve(target);
  const dirs: string[] = [];
  for (let d = need === 'enter' ? path : dirname(path); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of dirs) {
    const s = await stat(d).catch(() => null);
    if (s === null) return `${d} does not exist`;
    if (!allowed(s.mode, s.uid, s.gid, who, 'search')) return `${d} (mode ${octal(s.mode)}, owner ${s.uid}) cannot be entered`;
  }
  if (need === 'enter') {
    const s = await stat(path);
    if (!allowed(s.mode, s.uid, s.gid, who, 'read')) return `${path} (mode ${octal(s.mode)}, owner ${s.uid}) cannot be listed`;
    return null;
  }
  const s = await stat(path).catch(() => null);
  if (s === null) return `${path} does not exist`;
  if (!allowed(s.mode, s.uid, s.gid, who, 'exec') || !allowed(s.mode, s.uid, s.gid, who, 'read')) return `${path} (mode ${octal(s.mode)}, owner ${s.uid}) cannot be run`;
  return null;
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
