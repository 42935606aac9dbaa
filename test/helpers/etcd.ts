/**
 * Real etcd for tests: a 1- or 3-member cluster of Debian's `etcd` (etcd-server) on loopback,
 * each member with its own temp data dir and free client/peer ports. stop() kills every
 * member and removes the dirs; a process 'exit' hook does the same for clusters a failed test
 * left behind. Members can be killed and started again (fault drills), and a TCP relay can
 * stand between a client and a member to cut the client off (watch resync tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePorts, waitFor } from './proc.js';

/** Path of the etcd server binary ($TRELLIS_ETCD, else Debian's). */
export function etcdBinary(): string {
  return process.env.TRELLIS_ETCD ?? '/usr/bin/etcd';
}

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  /** http://127.0.0.1:<clientPort> */
  clientUrl: string;
  dataDir: string;
  /** The running process, or null while the member is stopped. */
  child: ChildProcess | null;
  /** Last output of the member (for failure messages). */
  log(): string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of every member (http://127.0.0.1:port). */
  endpoints: string[];
  /** `etcd://127.0.0.1:p1,127.0.0.1:p2,...` for `trellis control-plane --store` (add `/prefix` to isolate a test). */
  storeUrl(prefix?: string): string;
  /** Stops one member (SIGKILL by default) and waits for its exit; its data dir is kept. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped member again on the same ports and data dir; waits until it answers /health. */
  restart(index: number): Promise<void>;
  /** Index of the current raft leader (asks each running member). */
  leaderIndex(): Promise<number>;
  /** Kills every member and removes the data dirs. Safe to call twice. */
  stop(): Promise<void>;
}

const live = new Set<{ stopSync(): void }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for a test that threw before its cleanup: no etcd outlives the test process.
  process.on('exit', () => {
    for (const c of live) c.stopSync();
  });
}

/**
 * Starts an etcd cluster of `members` (1 or 3) on loopback and resolves once every member is
 * healthy (a leader is elected). Timeouts are shortened (heartbeat 50 ms, election 500 ms) so
 * a killed leader is replaced quickly; leases may then be as short as 1 s.
 */
export async function startEtcd(opts: { members?: 1 | 3 } = {}): Promise<EtcdCluster> {
  const n = opts.members ?? 1;
  installExitHook();
  // A port that was free a moment ago can be taken before etcd binds it: try again with new ones.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const cluster = await tryStart(n);
    try {
      await cluster.ready();
      return cluster.api;
    } catch (err) {
      lastError = err;
      await cluster.api.stop();
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

async function tryStart(n: number): Promise<{ api: EtcdCluster; ready(): Promise<void> }> {
  const root = mkdtempSync(join(tmpdir(), 'trellis-etcd-'));
  const ports = await freePorts(2 * n);
  const token = `trellis-test-${randomBytes(4).toString('hex')}`;
  const members: EtcdMember[] = [];
  const logs: string[] = [];
  for (let i = 0; i < n; i++) {
    const clientPort = ports[2 * i] as number;
    const peerPort = ports[2 * i + 1] as number;
    logs.push('');
    members.push({
      name: `m${i}`,
      clientPort,
      peerPort,
      clientUrl: `http://127.0.0.1:${clientPort}`,
      dataDir: join(root, `m${i}`),
      child: null,
      log: () => logs[i] ?? '',
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  let stopped = false;

  const launch = (i: number, state: 'new' | 'existing'): void => {
    const m = members[i] as EtcdMember;
    const args = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', token,
      '--heartbeat-interval', '50',
      '--election-timeout', '500',
      '--logger', 'zap',
      '--log-level', 'warn',
    ];
    const child = spawn(etcdBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      logs[i] = ((logs[i] ?? '') + d).slice(-8000);
    });
    child.on('error', (err) => {
      logs[i] = `${logs[i] ?? ''}\nspawn failed: ${err.message}`;
    });
    m.child = child;
  };

  const waitHealthy = async (m: EtcdMember): Promise<void> => {
    await waitFor(
      `etcd member ${m.name} healthy on ${m.clientUrl}`,
      async () => {
        if (m.child === null || m.child.exitCode !== null || m.child.signalCode !== null) {
          throw new Error(`etcd ${m.name} exited: ${m.log().slice(-2000)}`);
        }
        const res = await request(`${m.clientUrl}/health`, { headersTimeout: 1000, bodyTimeout: 1000 });
        const body = (await res.body.json()) as { health?: string };
        return res.statusCode === 200 && body.health === 'true';
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  };

  const killMember = async (m: EtcdMember, signal: NodeJS.Signals): Promise<void> => {
    const child = m.child;
    m.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    // Cleared once it exits: a pending 10 s timer kept every test file that stops etcd alive 10 s after its last test.
    const escalate = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(escalate);
  };

  const handle = {
    stopSync(): void {
      for (const m of members) {
        try {
          m.child?.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
  live.add(handle);

  for (let i = 0; i < n; i++) launch(i, 'new');

  const api: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    storeUrl: (prefix) => `etcd://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}${prefix !== undefined ? `/${prefix.replace(/^\/+/, '')}` : ''}`,
    async kill(index, signal = 'SIGKILL') {
      await killMember(members[index] as EtcdMember, signal);
    },
    async restart(index) {
      const m = members[index] as EtcdMember;
      if (m.child !== null) throw new Error(`etcd ${m.name} is running`);
      launch(index, 'existing');
      await waitHealthy(m);
    },
    async leaderIndex() {
      for (const m of members) {
        if (m.child === null) continue;
        try {
          const res = await request(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', headersTimeout: 1000, bodyTimeout: 1000 });
          const s = (await res.body.json()) as { header?: { member_id?: string }; leader?: string };
          if (s.leader === undefined || s.header?.member_id === undefined) continue;
          for (const [j, o] of members.entries()) {
            if (o.child === null) continue;
            const r = await request(`${o.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', headersTimeout: 1000, bodyTimeout: 1000 });
            const os = (await r.body.json()) as { header?: { member_id?: string } };
            if (os.header?.member_id === s.leader) return j;
          }
        } catch {
          /* this member is not answering: ask the next */
        }
      }
      throw new Error('no etcd member knows a leader');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((m) => killMember(m, 'SIGKILL')));
      rmSync(root, { recursive: true, force: true });
      live.delete(handle);
    },
  };
  return { api, ready: () => Promise.all(members.map((m) => waitHealthy(m))).then(() => undefined) };
}

/**
 * A TCP relay in front of an etcd member. cut() drops every connection (a reset) and refuses
 * new ones until restore(); stall() is a link gone silent, as a host cut off the network is to
 * its peers: nothing is forwarded either way, nothing is closed, and new connections are taken
 * and never answered, until restore(). slow(ms) forwards every chunk of new connections `ms`
 * late, both ways (a loaded or distant member).
 */
export interface TcpRelay {
  port: number;
  /** host:port of the relay (for an etcd:// store URL). */
  address: string;
  cut(): void;
  stall(): void;
  slow(ms: number): void;
  restore(): void;
  close(): Promise<void>;
}

export async function tcpRelay(targetPort: number): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let mode: 'open' | 'refuse' | 'stall' = 'open';
  let lateMs = 0;
  /** Forwards from one socket to the other, each chunk lateMs late (in order: every chunk waits as long). */
  const forward = (from: net.Socket, to: net.Socket, ms: number): void => {
    if (ms === 0) {
      from.pipe(to);
      return;
    }
    from.on('data', (chunk: Buffer) => setTimeout(() => to.destroyed || to.write(chunk), ms));
  };
  const silence = (s: net.Socket): void => {
    s.unpipe();
    s.pause();
  };
  const server = net.createServer((client) => {
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    sockets.add(client);
    client.on('error', () => client.destroy()).on('close', () => sockets.delete(client));
    if (mode === 'stall') {
      client.pause();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(upstream);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      pairs.delete(pair);
    };
    client.on('close', drop);
    upstream.on('error', drop).on('close', drop);
    forward(client, upstream, lateMs);
    forward(upstream, client, lateMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = (): void => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    pairs.clear();
  };
  return {
    port,
    address: `127.0.0.1:${port}`,
    cut() {
      mode = 'refuse';
      dropAll();
    },
    stall() {
      mode = 'stall';
      for (const [client, upstream] of pairs) {
        silence(client);
        silence(upstream);
      }
    },
    slow(ms) {
      lateMs = ms;
    },
    restore() {
      lateMs = 0;
      // A stalled connection stays silent (as a peer's timed-out connection is gone): it is dropped.
      if (mode === 'stall') dropAll();
      mode = 'open';
    },
    async close() {
      mode = 'refuse';
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
