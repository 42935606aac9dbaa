import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';

/**
 * Closes the plaintext bypass in the kernel (mesh file `spec.mtls.lockAppPorts: true`): one
 * nftables table per agent whose input chain drops TCP to the apps' ports unless it arrives on
 * loopback, so only the local proxy (and other local processes) can reach an app that listens
 * on every interface. Each update replaces the whole table in one `nft -f` transaction
 * (declare, delete, declare again), so applying the same ports twice changes nothing and no
 * packet ever sees a half-written table. The agent removes the table when it stops.
 */

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `nft` (or `ip netns exec <ns> nft` in tests) with `args`, `stdin` as its input. */
export type NftRunner = (args: string[], stdin?: string) => Promise<CommandResult>;

/** A runner for `argv0 ...prefix nft args` (default: plain `nft`). */
export function commandRunner(prefix: readonly string[] = []): NftRunner {
  return (args, stdin) =>
    new Promise((resolve) => {
      const [cmd, ...rest] = [...prefix, 'nft', ...args] as [string, ...string[]];
      const child = spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => resolve({ code: -1, stdout, stderr: err.message }));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.on('error', () => {});
      child.stdin.end(stdin ?? '');
    });
}

/** The table of one agent (by its state directory): two agents on one host never touch each other's rules. */
export function lockTableName(stateDir: string): string {
  return `trellis_lock_${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
}

/** The `nft -f` script that makes the table hold exactly `ports` (none: the table is removed). */
export function lockScript(table: string, ports: readonly number[]): string {
  const reset = `table inet ${table}\ndelete table inet ${table}\n`;
  if (ports.length === 0) return reset;
  const set = [...new Set(ports)].sort((a, b) => a - b).join(', ');
  return (
    reset +
    `table inet ${table} {\n` +
    `  chain input {\n` +
    `    type filter hook input priority -10; policy accept;\n` +
    `    iif "lo" accept\n` +
    `    tcp dport { ${set} } drop\n` +
    `  }\n` +
    `}\n`
  );
}

export type LockAvailability = { ok: true } | { ok: false; reason: string };

/**
 * Whether this host lets the agent install the rules: Linux, root, an `nft` that runs and may
 * list the ruleset (a container without CAP_NET_ADMIN may not). The reason says what is missing.
 */
export async function lockAvailability(run: NftRunner, platform: string = process.platform, uid: number | null = process.getuid?.() ?? null): Promise<LockAvailability> {
  if (platform !== 'linux') return { ok: false, reason: `nftables needs Linux (this host is ${platform})` };
  if (uid !== 0) return { ok: false, reason: 'the agent is not running as root' };
  const probe = await run(['list', 'tables']);
  if (probe.code === -1) return { ok: false, reason: `nft is not installed (${probe.stderr.trim()}); install the nftables package` };
  if (probe.code !== 0) return { ok: false, reason: `nft cannot read the ruleset: ${probe.stderr.trim() || `exit ${probe.code}`}` };
  return { ok: true };
}

/** The table of one agent, kept equal to the ports it is given. */
export class AppPortLock {
  private ports: number[] = [];
  private installed = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly table: string,
    private readonly run: NftRunner,
  ) {}

  /** The ports the rules drop now (empty when none are installed). */
  get lockedPorts(): readonly number[] {
    return this.installed ? this.ports : [];
  }

  /** Makes the table drop exactly `ports` from anywhere but loopback; throws with nft's message when refused. */
  apply(ports: readonly number[]): Promise<void> {
    const want = [...new Set(ports)].sort((a, b) => a - b);
    return this.serial(async () => {
      if (this.installed && sameList(want, this.ports)) return;
      await this.exec(lockScript(this.table, want));
      this.ports = want;
      this.installed = want.length > 0;
    });
  }

  /** Removes the table (also one a previous agent left behind); safe when there is none. */
  remove(): Promise<void> {
    return this.serial(async () => {
      await this.exec(lockScript(this.table, []));
      this.ports = [];
      this.installed = false;
    });
  }

  private async exec(script: string): Promise<void> {
    const r = await this.run(['-f', '-'], script);
    if (r.code !== 0) throw new Error(`nft refused the rules: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  /** One nft transaction at a time, in call order. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
