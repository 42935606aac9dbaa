/**
 * Simulated proxies for `bench:push-scale`, run in a child process (several share one): each
 * holds a real push stream (HTTP/2 over mTLS, src/api/push.ts) with the certificate the control
 * plane issued for its identity, says hello, and ACKs every snapshot as it arrives, pinging
 * like a proxy so the control plane keeps the stream. It does not parse or apply snapshots (a
 * real proxy's apply time is measured apart, with one real proxy): it reads a line's first
 * bytes for the version, so a thousand of them in one process measure the control plane's
 * push path, not JSON.parse. Each ACK is timestamped (process.hrtime, the same monotonic clock
 * in every process) and reported to the parent over IPC in batches.
 */
import http2 from 'node:http2';
import { PUSH_PATH_STREAM } from '../../src/api/push.js';
import type { ProxyStatusReport } from '../../src/api/push.js';
import { clientTlsOptions } from '../../src/identity/tls.js';

export interface WorkerStart {
  type: 'start';
  pushUrl: string;
  trustBundlePem: string[];
  cpIdentity: string;
  /** identity -> credentials (replicas of a workload share its identity). */
  certs: Record<string, { keyPem: string; certChainPem: string[] }>;
  proxies: { nodeId: string; identity: string }[];
  pingIntervalMs: number;
}

/** [nodeId, version, ackTimeMs (hrtime)]. */
export type AckEvent = [string, number, number];
export type WorkerMessage = { type: 'connected'; count: number } | { type: 'acks'; items: AckEvent[] } | { type: 'error'; message: string };

const STATUS: ProxyStatusReport = { certNotAfter: '', certSerial: '', tlsHandshakes: 0, tlsFailures: 0, peersVerified: 0, adminUrl: '' };
const PREFIX = '{"type":"snapshot","snapshot":{"version":';
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

let pending: AckEvent[] = [];
let flushQueued = false;
function report(e: AckEvent): void {
  pending.push(e);
  if (flushQueued) return;
  flushQueued = true;
  setImmediate(() => {
    flushQueued = false;
    const items = pending;
    pending = [];
    process.send?.({ type: 'acks', items } satisfies WorkerMessage);
  });
}

class SimProxy {
  private head = '';
  private stream: http2.ClientHttp2Stream | null = null;
  private session: http2.ClientHttp2Session | null = null;
  private timer: NodeJS.Timeout | null = null;
  firstAck: Promise<void>;
  private resolveFirst: () => void = () => {};

  constructor(
    private readonly nodeId: string,
    private readonly o: WorkerStart,
  ) {
    this.firstAck = new Promise((r) => (this.resolveFirst = r));
  }

  connect(): Promise<void> {
    const identity = this.o.proxies.find((p) => p.nodeId === this.nodeId)?.identity as string;
    const creds = this.o.certs[identity];
    if (creds === undefined) throw new Error(`no certificate for ${identity}`);
    const tls = clientTlsOptions({ keyPem: creds.keyPem, certChainPem: creds.certChainPem }, this.o.trustBundlePem, this.o.cpIdentity, ['h2']);
    return new Promise((resolve, reject) => {
      const s = http2.connect(this.o.pushUrl, tls as http2.SecureClientSessionOptions);
      this.session = s;
      s.once('error', reject);
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => {});
        const st = s.request({ ':method': 'POST', ':path': PUSH_PATH_STREAM, 'content-type': 'application/x-ndjson' });
        this.stream = st;
        st.on('error', () => {});
        st.on('data', (chunk: Buffer) => this.onData(chunk));
        st.write(`${JSON.stringify({ type: 'hello', nodeId: this.nodeId, lastVersion: null, status: STATUS })}\n`);
        // Stagger the pings: a thousand streams must not ping in the same millisecond.
        const ping = this.o.pingIntervalMs;
        setTimeout(() => {
          this.timer = setInterval(() => this.stream?.write('{"type":"ping"}\n'), ping);
        }, Math.random() * ping).unref();
        resolve();
      });
    });
  }

  /** Reads only each line's first bytes: enough for the type and version. */
  private onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.head.length < PREFIX.length + 20) this.head += chunk.toString('latin1', start, Math.min(end, start + PREFIX.length + 20 - this.head.length));
      if (nl === -1) return;
      this.onLine(this.head);
      this.head = '';
      start = nl + 1;
    }
  }

  private onLine(head: string): void {
    if (!head.startsWith(PREFIX)) return;
    const version = parseInt(head.slice(PREFIX.length), 10);
    this.stream?.write(`{"type":"ack","version":${version}}\n`);
    report([this.nodeId, version, nowMs()]);
    this.resolveFirst();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.session?.destroy();
  }
}

const proxies: SimProxy[] = [];

process.on('message', (m: WorkerStart | { type: 'stop' }) => {
  if (m.type === 'stop') {
    for (const p of proxies) p.close();
    process.disconnect();
    return;
  }
  void start(m).catch((err: unknown) => process.send?.({ type: 'error', message: String(err) } satisfies WorkerMessage));
});

async function start(o: WorkerStart): Promise<void> {
  // Connect a few dozen at a time: TLS handshakes are the control plane's CPU too.
  const queue = [...o.proxies];
  const connectOne = async (): Promise<void> => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      const sp = new SimProxy(p.nodeId, o);
      proxies.push(sp);
      await sp.connect();
    }
  };
  await Promise.all(Array.from({ length: 32 }, connectOne));
  await Promise.all(proxies.map((p) => p.firstAck));
  process.send?.({ type: 'connected', count: proxies.length } satisfies WorkerMessage);
}
