/**
 * The limit for a proxy pair written in Node: two processes that only move bytes, with the same
 * mTLS hop as the HAProxy and Trellis pairs and no HTTP parsing at all.
 *
 *   role a:  plain TCP in (the load) -> for each connection, one mTLS connection out to b
 *            (client certificate, server verified against the CA)
 *   role b:  mTLS in (client certificate required and verified) -> plain TCP to the server
 *
 * Bytes are piped both ways (`stream.pipe`, so backpressure holds); nothing is parsed, buffered
 * or counted. Whatever a Trellis pair loses against this pair is Trellis's own work above
 * Node's TLS and streams (issue 9, Part 1).
 *
 * Run: node dist/bench/tls-pipe.js --role a|b --to <port> --ca <pem> --cert <pem> --key <pem> [--port N]
 * Prints one line `listening 127.0.0.1:<port>` on stdout when bound.
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    port: { type: 'string', default: '0' },
    to: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});
const role = values.role;
if ((role !== 'a' && role !== 'b') || values.to === undefined || values.ca === undefined || values.cert === undefined || values.key === undefined) {
  process.stderr.write('usage: tls-pipe --role a|b --to <port> --ca <pem> --cert <pem> --key <pem> [--port N]\n');
  process.exit(2);
}
const HOST = '127.0.0.1';
const to = Number(values.to);
const tlsFiles = { ca: readFileSync(values.ca), cert: readFileSync(values.cert), key: readFileSync(values.key) };

/**
 * Pipes a <-> b; either side ending or failing ends both. Every TCP socket has Nagle off
 * (`noDelay` where it is made: setNoDelay on a TLSSocket does not always reach its TCP handle),
 * as HAProxy and the Trellis proxies have.
 */
function splice(a: Socket | TLSSocket, b: Socket | TLSSocket): void {
  a.pipe(b);
  b.pipe(a);
  const stop = (): void => {
    a.destroy();
    b.destroy();
  };
  a.once('error', stop);
  b.once('error', stop);
  a.once('close', stop);
  b.once('close', stop);
}

const server =
  role === 'a'
    ? createServer({ noDelay: true }, (down) => {
        // checkServerIdentity (the default) matches 127.0.0.1 against the certificate's IP SAN.
        const up = tlsConnect({ socket: connect({ host: HOST, port: to, noDelay: true }), host: HOST, ...tlsFiles, ALPNProtocols: ['http/1.1'] });
        splice(down, up);
      })
    : createTlsServer({ ...tlsFiles, noDelay: true, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] }, (down) => {
        splice(down, connect({ host: HOST, port: to, noDelay: true }));
      });

server.listen(Number(values.port), HOST, () => {
  const addr = server.address();
  process.stdout.write(`listening ${HOST}:${addr !== null && typeof addr === 'object' ? addr.port : 0}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
