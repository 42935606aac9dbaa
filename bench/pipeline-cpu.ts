/**
 * CPU per request of a Trellis proxy pair, in one process: an origin on raw sockets, an
 * outbound and an inbound proxy (ProxyRuntime, mTLS between them) and a closed-loop client on
 * keep-alive connections, all on loopback. It reports process CPU microseconds per request
 * (user + system) over a fixed number of requests, so two trees can be compared with the same
 * script (`node <outDir>/bench/pipeline-cpu.js`, alternating) without the 2-core machine's
 * scheduling between separate processes in the way. Not a throughput figure: that is run.ts.
 *
 *   node dist/bench/pipeline-cpu.js [--requests 40000] [--connections 16] [--rounds 3]
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import tls from 'node:tls';
import { clientTlsOptions, serverTlsOptions } from '../src/identity/tls.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../src/proxy/testing/fixtures.js';
import type { TestPki } from '../src/proxy/testing/fixtures.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '40000' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    /** The same topology with the two proxies replaced by byte pipes (net + tls): the limit. */
    pipe: { type: 'boolean', default: false },
  },
});
const REQUESTS = Number(values.requests);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok', 'latin1');
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: backend\r\nUser-Agent: pipeline-cpu\r\nAccept: */*\r\n\r\n', 'latin1');

/** Answers every request head with RESPONSE (one per CRLFCRLF seen). */
function origin(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    let tail = '';
    s.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      let n = 0;
      let i = text.indexOf('\r\n\r\n');
      let last = 0;
      while (i >= 0) {
        n++;
        last = i + 4;
        i = text.indexOf('\r\n\r\n', last);
      }
      tail = text.slice(last);
      for (let k = 0; k < n; k++) s.write(RESPONSE);
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

/** `total` requests over `conns` keep-alive connections, one in flight per connection. */
function load(port: number, total: number, conns: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const sockets: net.Socket[] = [];
    for (let c = 0; c < conns; c++) {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      sockets.push(s);
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (;;) {
          const i = buf.indexOf('\r\n\r\n');
          if (i < 0) break;
          const m = /content-length: *(\d+)/i.exec(buf.slice(0, i));
          const end = i + 4 + Number(m?.[1] ?? 0);
          if (buf.length < end) break;
          buf = buf.slice(end);
          done++;
          if (done === total) {
            for (const x of sockets) x.destroy();
            resolve();
            return;
          }
          if (sent < total) {
            sent++;
            s.write(REQUEST);
          }
        }
      });
      s.on('error', reject);
      s.once('connect', () => {
        if (sent < total) {
          sent++;
          s.write(REQUEST);
        }
      });
    }
  });
}

function splice(a: net.Socket, b: net.Socket): void {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.pipe(b);
  b.pipe(a);
  const stop = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.once('error', stop);
    s.once('close', stop);
  }
}

/** Two pipe hops with the proxies' mTLS between them: returns the front port. */
async function pipes(pki: TestPki, appPort: number): Promise<{ port: number; close(): void }> {
  const server = await pki.issue(id('backend'));
  const client = await pki.issue(id('frontend'));
  const bundle = pki.ca.trustBundlePem();
  const b = tls.createServer(serverTlsOptions(server, bundle, ['http/1.1']), (down) => splice(down, net.connect(appPort, '127.0.0.1')));
  await new Promise<void>((r) => b.listen(0, '127.0.0.1', r));
  const bPort = (b.address() as AddressInfo).port;
  const a = net.createServer((down) => splice(down, tls.connect({ ...clientTlsOptions(client, bundle, id('backend'), ['http/1.1']), host: '127.0.0.1', port: bPort })));
  await new Promise<void>((r) => a.listen(0, '127.0.0.1', r));
  return { port: (a.address() as AddressInfo).port, close: () => (a.close(), b.close()) };
}

async function main(): Promise<void> {
  const pki = await testPki();
  const { server, port: appPort } = await origin();
  if (values.pipe === true) {
    const p = await pipes(pki, appPort);
    await measure(p.port);
    p.close();
    server.close();
    await pki.cleanup();
    return;
  }
  const backend = await runtime(pki, bootstrap(id('backend'), [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []));
  backend.applySnapshot(snapshot(1, pki, []));
  await backend.startListeners();
  const CLUSTER = 'default/backend:http';
  const front = await runtime(pki, bootstrap(id('frontend'), [], [{ name: 'backend', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]));
  front.applySnapshot(snapshot(1, pki, [cluster(CLUSTER, 'http', [endpoint(portOf(backend, 'http', 'inbound'), id('backend'))])]));
  await front.startListeners();
  await measure(portOf(front, 'backend', 'outbound'));
  front.close();
  backend.close();
  server.close();
  await pki.cleanup();
}

async function measure(port: number): Promise<void> {
  await load(port, 2_000, CONNECTIONS); // warm-up: JIT, pools
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    const t0 = performance.now();
    await load(port, REQUESTS, CONNECTIONS);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(before);
    const usPerReq = (cpu.user + cpu.system) / REQUESTS;
    results.push(usPerReq);
    process.stdout.write(`round ${r + 1}: ${usPerReq.toFixed(1)} us CPU per request (user ${(cpu.user / REQUESTS).toFixed(1)}, system ${(cpu.system / REQUESTS).toFixed(1)}), ${Math.round(REQUESTS / (wall / 1000))} req/s\n`);
  }
  results.sort((a, b) => a - b);
  process.stdout.write(`pipeline-cpu${values.pipe === true ? ' (pipe)' : ''} us_per_request_median=${results[Math.floor(results.length / 2)]!.toFixed(1)} min=${results[0]!.toFixed(1)}\n`);
}

void main().then(() => process.exit(0));
