import { readFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TrellisError } from '../errors.js';

/** One child the agent started, as written to `<stateDir>/run/pids.json`. */
export interface PidEntry {
  pid: number;
  kind: 'app' | 'proxy';
  name: string;
  /** argv as spawned; /proc/<pid>/cmdline must still contain all of it for the pid to be ours. */
  argv: string[];
}

interface PidFileBody {
  agentPid: number;
  agentArgv: string[];
  children: PidEntry[];
}

export function pidFilePath(stateDir: string): string {
  return join(stateDir, 'run', 'pids.json');
}

/** argv of a running process, or null if it is gone (or /proc is not there). */
export function readCmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const parts = raw.split('\0');
    if (parts.at(-1) === '') parts.pop();
    return parts;
  } catch {
    return null;
  }
}

/** True if the process's argv still holds every element of `argv`, in order. */
export function looksLike(pid: number, argv: string[]): boolean {
  const cmd = readCmdline(pid);
  if (cmd === null || cmd.length === 0) return false;
  let i = 0;
  for (const part of cmd) if (i < argv.length && part === argv[i]) i++;
  return i === argv.length;
}

/**
 * The record of every child pid. Written on every change, so that if the agent dies without
 * stopping (SIGKILL, a crash), the next start finds and ends what it left behind.
 */
export class PidRegistry {
  private readonly children = new Map<number, PidEntry>();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly stateDir: string,
    private readonly logger: Logger,
  ) {}

  add(entry: PidEntry): void {
    this.children.set(entry.pid, entry);
    this.save();
  }

  remove(pid: number): void {
    if (this.children.delete(pid)) this.save();
  }

  entries(): PidEntry[] {
    return [...this.children.values()];
  }

  /** Waits for pending writes. */
  async flush(): Promise<void> {
    await this.writing;
  }

  async clear(): Promise<void> {
    this.children.clear();
    await this.writing;
    await rm(pidFilePath(this.stateDir), { force: true });
  }

  private save(): void {
    const body: PidFileBody = { agentPid: process.pid, agentArgv: process.argv, children: this.entries() };
    const file = pidFilePath(this.stateDir);
    this.writing = this.writing.then(async () => {
      try {
        await writeFile(`${file}.tmp`, JSON.stringify(body, null, 2), { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      } catch (err) {
        this.logger.warn({ err }, 'cannot write pids.json');
      }
    });
  }
}

/**
 * Ends children listed by a previous agent that died without stopping them. A pid is only
 * killed when /proc/<pid>/cmdline still shows the command we started (pids get reused).
 * Refuses if that agent is still running.
 */
export async function killLeftovers(stateDir: string, logger: Logger): Promise<number> {
  let body: PidFileBody;
  try {
    body = JSON.parse(await readFile(pidFilePath(stateDir), 'utf8')) as PidFileBody;
  } catch {
    return 0;
  }
  if (body.agentPid !== process.pid && looksLike(body.agentPid, body.agentArgv)) {
    throw new TrellisError('TRELLIS_E_PORT_IN_USE', `state directory ${stateDir} is in use by a running trellis agent (pid ${body.agentPid}); stop it first or use another --state-dir`);
  }
  let killed = 0;
  for (const c of body.children ?? []) {
    if (!looksLike(c.pid, c.argv)) continue;
    logger.warn({ pid: c.pid, kind: c.kind, name: c.name }, 'killing a leftover process from a previous run');
    for (const target of c.kind === 'app' ? [-c.pid, c.pid] : [c.pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone or not a group leader
      }
    }
    killed++;
  }
  await rm(pidFilePath(stateDir), { force: true });
  return killed;
}
