/**
 * Every process the benchmark starts is registered here, in its own process group, so that
 * one cleanup (normal end, error, SIGINT/SIGTERM, or even a synchronous process exit) stops
 * exactly the processes this run started and their descendants, and nothing else.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

interface Tracked {
  name: string;
  child: ChildProcess;
  exited: boolean;
  exit: Promise<void>;
  out: string;
  err: string;
}

const tracked: Tracked[] = [];
/** Extra pids (e.g. proxies reported by the control plane) killed after their parent as a last resort. */
const extraPids = new Set<number>();

export function startChild(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts, detached: true });
  let resolveExit: () => void = () => {};
  const t: Tracked = { name, child, exited: false, exit: new Promise<void>((r) => (resolveExit = r)), out: '', err: '' };
  // Always drain both pipes (a child must never block on a full pipe) and keep their tails.
  child.stdout?.on('data', (d: Buffer) => (t.out = (t.out + d.toString('utf8')).slice(-8000)));
  child.stderr?.on('data', (d: Buffer) => (t.err = (t.err + d.toString('utf8')).slice(-8000)));
  child.on('exit', () => {
    t.exited = true;
    resolveExit();
  });
  child.on('error', () => {
    t.exited = true;
    resolveExit();
  });
  tracked.push(t);
  return child;
}

/** Last few KB of a child's stdout and stderr, for error messages. */
export function outputTail(child: ChildProcess): string {
  const t = tracked.find((x) => x.child === child);
  if (t === undefined) return '';
  return `--- ${t.name} stdout tail ---\n${t.out.slice(-2000)}\n--- ${t.name} stderr tail ---\n${t.err.slice(-3000)}`;
}

export function trackPid(pid: number): void {
  extraPids.add(pid);
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops one child: SIGTERM to its group, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  const t = tracked.find((x) => x.child === child);
  if (t === undefined) return;
  if (!t.exited) {
    signalGroup(child.pid, 'SIGTERM');
    const timedOut = await Promise.race([t.exit.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (timedOut) {
      signalGroup(child.pid, 'SIGKILL');
      await Promise.race([t.exit, new Promise((r) => setTimeout(r, 1000).unref())]);
    }
  }
  // Descendants left in the group (e.g. if the parent died first) get a final SIGKILL.
  signalGroup(child.pid, 'SIGKILL');
  tracked.splice(tracked.indexOf(t), 1);
}

/** Stops everything still running, newest first. */
export async function stopAll(graceMs = 5000): Promise<void> {
  for (const t of [...tracked].reverse()) await stopChild(t.child, graceMs);
  for (const pid of extraPids) if (alive(pid)) signalGroup(pid, 'SIGKILL');
  extraPids.clear();
}

/** Synchronous last resort for process 'exit': SIGKILL every group still registered. */
export function killAllSync(): void {
  for (const t of tracked) if (!t.exited) signalGroup(t.child.pid, 'SIGKILL');
  for (const pid of extraPids) if (alive(pid)) signalGroup(pid, 'SIGKILL');
}

/** Resolves with the first stdout line matching `re`, or rejects on exit/timeout (with output tails). */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number, name: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onOut = (d: Buffer): void => {
      out += d.toString('utf8');
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        const m = re.exec(line);
        if (m !== null) {
          cleanup();
          resolve(m);
          return;
        }
      }
    };
    const onExit = (code: number | null, sig: string | null): void => {
      cleanup();
      // Let the tail collectors see the last bytes first.
      setTimeout(() => reject(new Error(`${name} exited (code ${code}, signal ${sig}) before ready\n${outputTail(child)}`)), 50);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${name} not ready after ${timeoutMs} ms\n${outputTail(child)}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onOut);
    child.on('exit', onExit);
  });
}
