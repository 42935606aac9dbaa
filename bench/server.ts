/**
 * Benchmark origin server: HTTP/1.1 on raw `net` sockets with fixed, pre-encoded responses.
 *
 * Hand-written rather than `node:http` on purpose: the benchmark measures the proxies, so the
 * origin must cost as little as possible per request (no header object, no per-request
 * allocation beyond slicing the input). It understands just enough HTTP/1.1 for GET/HEAD and
 * small Content-Length bodies from wrk, our load generator, HAProxy and the Trellis proxy:
 *
 *   GET /      (anything not starting with /1k) -> 200, 2-byte body "ok"
 *   GET /1k... -> 200, 1024-byte body
 *
 * Keep-alive always (it answers `connection: close` requests and then closes). Pipelined
 * requests are answered in order. Chunked request bodies are not supported (answered 501, closed).
 *
 * Run: node dist/bench/server.js [--port N] [--host H]   (defaults: $PORT or 0, 127.0.0.1)
 * Prints one line `listening <host>:<port>` on stdout when bound.
 */
import { createServer, type Socket } from 'node:net';

const SMALL_BODY = 'ok';
const KB_BODY = 'x'.repeat(1023) + '\n';

function response(body: string, close: boolean): Buffer {
  return Buffer.from(
    'HTTP/1.1 200 OK\r\n' +
      'content-type: text/plain\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      (close ? 'connection: close\r\n' : '') +
      '\r\n' +
      body,
    'latin1',
  );
}

const RESP_SMALL = response(SMALL_BODY, false);
const RESP_KB = response(KB_BODY, false);
const RESP_SMALL_CLOSE = response(SMALL_BODY, true);
const RESP_KB_CLOSE = response(KB_BODY, true);
const RESP_501 = Buffer.from('HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', 'latin1');
const RESP_400 = Buffer.from('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', 'latin1');

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEAD = 64 * 1024;

/** Value of a header in a latin1 head (lower-cased search), or null. */
function headerValue(headLower: string, name: string): string | null {
  const key = `\r\n${name}:`;
  const at = headLower.indexOf(key);
  if (at < 0) return null;
  const end = headLower.indexOf('\r\n', at + key.length);
  return headLower.slice(at + key.length, end < 0 ? undefined : end).trim();
}

function handle(socket: Socket): void {
  socket.setNoDelay(true);
  let pending: Buffer | null = null;
  /** Body bytes still to skip from the previous request. */
  let skip = 0;
  socket.on('data', (chunk: Buffer) => {
    let buf: Buffer = pending === null ? chunk : Buffer.concat([pending, chunk]);
    pending = null;
    const out: Buffer[] = [];
    let closeAfter = false;
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        skip -= n;
        buf = buf.subarray(n);
        if (skip > 0) break;
      }
      if (buf.length === 0) break;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (buf.length > MAX_HEAD) {
          out.push(RESP_400);
          closeAfter = true;
        } else {
          pending = Buffer.from(buf); // copy: the chunk may be reused
        }
        break;
      }
      const head = buf.toString('latin1', 0, end + 2).toLowerCase();
      buf = buf.subarray(end + 4);
      const sp = head.indexOf(' ');
      const kb = head.startsWith('/1k', sp + 1);
      const conn = headerValue(head, 'connection');
      const lineEnd = head.indexOf('\r\n');
      const http10 = head.slice(0, lineEnd).endsWith(' http/1.0');
      const close = conn === 'close' || (http10 && conn !== 'keep-alive');
      if (headerValue(head, 'transfer-encoding') !== null) {
        out.push(RESP_501);
        closeAfter = true;
        break;
      }
      const cl = headerValue(head, 'content-length');
      if (cl !== null) {
        const n = Number(cl);
        if (!Number.isSafeInteger(n) || n < 0) {
          out.push(RESP_400);
          closeAfter = true;
          break;
        }
        skip = n;
      }
      if (close) {
        out.push(kb ? RESP_KB_CLOSE : RESP_SMALL_CLOSE);
        closeAfter = true;
        break;
      }
      out.push(kb ? RESP_KB : RESP_SMALL);
    }
    if (out.length === 1) socket.write(out[0]!);
    else if (out.length > 1) socket.write(Buffer.concat(out));
    if (closeAfter) socket.end();
  });
  socket.on('error', () => socket.destroy());
}

function parseArgs(argv: string[]): { host: string; port: number } {
  let host = '127.0.0.1';
  let port = Number(process.env.PORT ?? '0');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i] === '--host') host = argv[++i] ?? host;
  }
  return { host, port };
}

const { host, port } = parseArgs(process.argv.slice(2));
const server = createServer({ noDelay: true }, handle);
server.listen({ host, port, backlog: 1024 }, () => {
  const addr = server.address();
  if (addr !== null && typeof addr === 'object') process.stdout.write(`listening ${addr.address}:${addr.port}\n`);
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
