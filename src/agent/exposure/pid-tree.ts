import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A process and all its descendants, and the sockets they hold, read from /proc. An app may
 * fork (a shell wrapper, a cluster of workers), and the child is the one that listens, so the
 * agent looks at the whole tree of the pid it started. `procRoot` is a parameter so that tests
 * read a fixture tree. Processes that exit while being read are skipped, never thrown.
 */

/** The parent pid from /proc/<pid>/stat (`pid (comm) state ppid ...`; comm may hold spaces and parentheses). */
export function parentPid(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  return Number.isSafeInteger(ppid) ? ppid : null;
}

async function numericEntries(dir: string): Promise<number[]> {
  try {
    return (await readdir(dir)).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

/** Every live process's children, from each /proc/<pid>/stat (read once per scan, shared by all apps). */
export async function processChildren(procRoot = '/proc'): Promise<Map<number, number[]>> {
  const children = new Map<number, number[]>();
  for (const pid of await numericEntries(procRoot)) {
    let stat: string;
    try {
      stat = await readFile(join(procRoot, String(pid), 'stat'), 'utf8');
    } catch {
      continue;
    }
    const ppid = parentPid(stat);
    if (ppid === null) continue;
    const list = children.get(ppid);
    if (list === undefined) children.set(ppid, [pid]);
    else list.push(pid);
  }
  return children;
}

/** `root` and every process whose ancestry leads to it (empty when `root` is gone). */
export async function pidTree(root: number, procRoot = '/proc', children?: Map<number, number[]>): Promise<number[]> {
  try {
    await readFile(join(procRoot, String(root), 'stat'));
  } catch {
    return [];
  }
  const byParent = children ?? (await processChildren(procRoot));
  const out: number[] = [];
  const queue = [root];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    queue.push(...(byParent.get(pid) ?? []));
  }
  return out;
}

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

/** Inodes of the sockets the given processes hold open (their fd links `socket:[<inode>]`). */
export async function socketInodes(pids: readonly number[], procRoot = '/proc'): Promise<Set<number>> {
  const out = new Set<number>();
  for (const pid of pids) {
    const fdDir = join(procRoot, String(pid), 'fd');
    for (const fd of await numericEntries(fdDir)) {
      try {
        const m = SOCKET_LINK.exec(await readlink(join(fdDir, String(fd))));
        if (m !== null) out.add(Number(m[1]));
      } catch {
        // closed between readdir and readlink
      }
    }
  }
  return out;
}
