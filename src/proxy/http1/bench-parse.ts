/**
 * Micro benchmark (not a test): parses a typical request head and a typical response head
 * many times and prints ns/op. Run: node <outDir>/src/proxy/http1/bench-parse.js [iterations]
 */
import { performance } from 'node:perf_hooks';
import { ChunkedScanner } from './chunked.js';
import { HeadReader, readRequestHead, readResponseHead } from './head-reader.js';
import { serializeForwardedRequest } from './serialize.js';
import { DEFAULT_HTTP1_LIMITS } from './types.js';

const REQ = Buffer.from(
  'GET /api/v1/products/12345?expand=reviews HTTP/1.1\r\n' +
  'Host: shop.default.svc:8080\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
  'Accept: application/json, text/plain, */*\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  'Connection: keep-alive\r\n' +
  'Cookie: session=abcdef0123456789; theme=dark\r\n' +
  'X-Request-Id: 7f8e9d0c-1b2a-3c4d-5e6f-708192a3b4c5\r\n\r\n', 'latin1');
const RESP = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 512\r\n' +
  'Date: Wed, 25 Nov 2026 09:00:00 GMT\r\nCache-Control: no-store\r\nX-Request-Id: 7f8e9d0c\r\n\r\n', 'latin1');
const CHUNKED = Buffer.from('400\r\n' + 'x'.repeat(1024) + '\r\n'.repeat(1) + '10;a=b\r\n' + 'y'.repeat(16) + '\r\n0\r\n\r\n', 'latin1');

function bench(name: string, n: number, fn: () => void): void {
  for (let i = 0; i < Math.min(n, 10_000); i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/op`);
}

const n = Number(process.argv[2] ?? 1_000_000);
const reader = new HeadReader();
let sink = 0;
bench('request head (find + parse)', n, () => {
  reader.push(REQ);
  const r = readRequestHead(reader, DEFAULT_HTTP1_LIMITS);
  if (r.kind === 'request') sink += r.headers.length;
});
bench('response head (find + parse)', n, () => {
  reader.push(RESP);
  const r = readResponseHead(reader, DEFAULT_HTTP1_LIMITS, 'GET');
  if (r.kind === 'response') sink += r.headers.length;
});
reader.push(REQ);
const head = readRequestHead(reader, DEFAULT_HTTP1_LIMITS);
if (head.kind === 'request') {
  bench('serialize request head', n, () => {
    sink += serializeForwardedRequest(head, null).length;
  });
}
const sc = new ChunkedScanner();
bench('chunked scan (2 chunks + last)', n, () => {
  sc.reset();
  sink += sc.push(CHUNKED);
});
console.log(`(sink ${sink})`);
