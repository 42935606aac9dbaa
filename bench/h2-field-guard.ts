/**
 * `node <outDir>/bench/h2-field-guard.js`: what the HTTP/2 field guard
 * (src/proxy/http2/field-guard) costs per request, so the lead can choose where to apply it.
 *
 * A child process runs an http2 server in one of three modes, a parent drives it with Node's
 * http2 client (one connection, --inflight streams in flight, gRPC-like request heads of 9
 * fields) for --seconds, alternating the modes --rounds times:
 *   native   server.emit('connection', socket): nghttp2 reads the socket's native handle
 *   passthru the socket behind a bare JS Duplex (what any JS wrapper costs: Node's JSStreamSocket)
 *   guard    H2FieldGuard.serve + guardStreams (the Duplex plus the shadow HPACK scan)
 * Reported per mode: requests/s and the server's CPU microseconds per request (utime+stime of
 * the child over the run / requests). Also: the scanner alone on a typical block (ns/block), and
 * the server's RSS with 1024 streams held open on one connection (the default stream limit).
 *
 * Flags: --seconds <s> (default 5)  --inflight <n> (default 32)  --rounds <n> (default 2)
 */
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { H2FieldGuard } from '../src/proxy/http2/field-guard/field-guard.js';
import { HpackFieldScanner } from '../src/proxy/http2/field-guard/hpack-scan.js';
import { TestHpackEncoder } from '../src/proxy/http2/field-guard/hpack-test-encoder.js';
import { http2ServerOptions } from '../src/proxy/http2/limits/limits.js';

type Mode = 'native' | 'passthru' | 'guard';

/** A Duplex that only relays (no parsing), to separate the JS-stream cost from the scanning. */
class Passthrough extends Duplex {
  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (c: Buffer) => {
      if (!this.push(c)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
  }
  override _read(): void {
    this.socket.resume();
  }
  override _write(c: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(c, cb);
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }
  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

function serve(mode: Mode | 'hold'): void {
  const h2 = http2.createServer(http2ServerOptions());
  const guard = new H2FieldGuard();
  const respond = (stream: http2.ServerHttp2Stream): void => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
  };
  if (mode === 'hold') h2.on('stream', (s) => s.on('error', () => {}));
  else h2.on('stream', mode === 'guard' ? guard.guardStreams(respond) : respond);
  h2.on('session', (s) => s.on('error', () => {}));
  const outer = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    if (mode === 'guard') guard.serve(h2, socket);
    else if (mode === 'passthru') h2.emit('connection', new Passthrough(socket));
    else h2.emit('connection', socket);
  });
  outer.listen(0, '127.0.0.1', () => process.send!({ port: (outer.address() as net.AddressInfo).port }));
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpuUs: u.user + u.system, rss: process.memoryUsage().rss });
    }
  });
}

interface Child {
  port: number;
  ask(): Promise<{ cpuUs: number; rss: number }>;
  stop(): void;
}

async function startChild(mode: Mode | 'hold'): Promise<Child> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', mode], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  return {
    port,
    ask: () =>
      new Promise((resolve) => {
        child.once('message', (m: { cpuUs: number; rss: number }) => resolve(m));
        child.send('cpu');
      }),
    stop: () => child.kill(),
  };
}

const HEAD = {
  ':method': 'POST',
  ':path': '/shop.Catalog/GetProduct',
  'content-type': 'application/grpc',
  te: 'trailers',
  'grpc-timeout': '4999m',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'user-agent': 'grpc-node-js/1.14.7',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  'x-request-id': '7f3c2a10-5b1e-4c9d-8f2a-3e6b9d1c4a77',
};

async function drive(mode: Mode, seconds: number, inflight: number): Promise<{ rps: number; cpuUsPerReq: number }> {
  const child = await startChild(mode);
  const client = http2.connect(`http://127.0.0.1:${child.port}`);
  client.on('error', () => {});
  await new Promise((r) => client.once('remoteSettings', r));
  const run = async (until: number): Promise<number> => {
    let done = 0;
    const worker = async (): Promise<void> => {
      while (Date.now() < until) {
        await new Promise<void>((resolve) => {
          const req = client.request({ ...HEAD, traceparent: `00-${(done % 1e6).toString(16).padStart(32, '0')}-b7ad6b7169203331-01` });
          req.on('error', () => resolve());
          req.on('close', () => resolve());
          req.resume();
          req.end(Buffer.alloc(16));
        });
        done++;
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    return done;
  };
  await run(Date.now() + 1000); // warm-up
  const before = await child.ask();
  const started = Date.now();
  const n = await run(started + seconds * 1000);
  const elapsed = (Date.now() - started) / 1000;
  const after = await child.ask();
  client.close();
  child.stop();
  return { rps: n / elapsed, cpuUsPerReq: (after.cpuUs - before.cpuUs) / n };
}

function scanOnly(): number {
  const enc = new TestHpackEncoder();
  const fields = Object.entries(HEAD).map(([name, value]) => ({ name, value, as: 'incremental' as const, huffman: true }));
  enc.encode(fields); // first request fills the table, as a real connection's would
  const block = enc.encode(fields.map((f) => (f.name === 'traceparent' ? { ...f, as: 'without' as const } : { ...f, as: 'indexed' as const })));
  const literal = new TestHpackEncoder().encode(fields);
  const scanner = new HpackFieldScanner();
  scanner.scanBlock(literal, 0, literal.length);
  const rounds = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) scanner.scanBlock(literal, 0, literal.length);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) scanner.scanBlock(block, 0, block.length);
  const t2 = process.hrtime.bigint();
  console.log(`scanner alone: ${Number(t1 - t0) / rounds | 0} ns per all-literal Huffman block (${literal.length} B), ${Number(t2 - t1) / rounds | 0} ns per mostly-indexed block (${block.length} B)`);
  return 0;
}

async function heldStreamsRss(): Promise<void> {
  const child = await startChild('hold');
  const base = (await child.ask()).rss;
  const client = http2.connect(`http://127.0.0.1:${child.port}`);
  client.on('error', () => {});
  await new Promise((r) => client.once('remoteSettings', r));
  for (let i = 0; i < 1024; i++) client.request({ ...HEAD }).on('error', () => {});
  await new Promise((r) => setTimeout(r, 1500));
  const held = (await child.ask()).rss;
  console.log(`server RSS: ${(base / 1048576).toFixed(1)} MB idle, ${(held / 1048576).toFixed(1)} MB with 1024 streams held on one connection (+${((held - base) / 1024 / 1024).toFixed(1)} MB)`);
  client.destroy();
  child.stop();
}

async function main(argv: string[]): Promise<void> {
  const flag = (name: string, dflt: number): number => {
    const i = argv.indexOf(name);
    const n = i >= 0 ? Number(argv[i + 1]) : NaN;
    return Number.isFinite(n) && n > 0 ? n : dflt;
  };
  const seconds = flag('--seconds', 5);
  const inflight = flag('--inflight', 32);
  const rounds = flag('--rounds', 2);
  scanOnly();
  await heldStreamsRss();
  const results: Record<Mode, { rps: number; cpu: number }[]> = { native: [], passthru: [], guard: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['native', 'passthru', 'guard'] as Mode[]) {
      const { rps, cpuUsPerReq } = await drive(mode, seconds, inflight);
      results[mode].push({ rps, cpu: cpuUsPerReq });
      console.error(`round ${r + 1} ${mode}: ${rps.toFixed(0)} req/s, ${cpuUsPerReq.toFixed(1)} us CPU/request`);
    }
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log('| mode | req/s | server CPU us/request |');
  console.log('|---|---|---|');
  for (const mode of ['native', 'passthru', 'guard'] as Mode[]) {
    console.log(`| ${mode} | ${mean(results[mode].map((x) => x.rps)).toFixed(0)} | ${mean(results[mode].map((x) => x.cpu)).toFixed(1)} |`);
  }
}

const i = process.argv.indexOf('--serve');
if (i >= 0) serve(process.argv[i + 1] as Mode | 'hold');
else await main(process.argv.slice(2));
