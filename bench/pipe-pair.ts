/**
 * The raw Node TLS pipe pair (`tls-pipe.ts`), started as two processes like the other pairs:
 * A (plain TCP in, mTLS out) -> B (mTLS in, plain TCP to the server).
 */
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { startChild, waitForLine } from './children.js';
import type { BenchPki } from './certs.js';

export interface PipePair {
  a: ChildProcess;
  b: ChildProcess;
  /** Where the load goes (A's plain listener). */
  port: number;
}

const script = fileURLToPath(new URL('./tls-pipe.js', import.meta.url));

export async function startPipePair(pki: BenchPki, serverPort: number): Promise<PipePair> {
  const b = startChild('tls-pipe b', process.execPath, [script, '--role', 'b', '--to', String(serverPort), '--ca', pki.caPem, '--cert', pki.serverCert, '--key', pki.serverKey]);
  const bPort = Number((await waitForLine(b, /^listening [^:]+:(\d+)/, 10000, 'tls-pipe b'))[1]);
  const a = startChild('tls-pipe a', process.execPath, [script, '--role', 'a', '--to', String(bPort), '--ca', pki.caPem, '--cert', pki.clientCert, '--key', pki.clientKey]);
  const port = Number((await waitForLine(a, /^listening [^:]+:(\d+)/, 10000, 'tls-pipe a'))[1]);
  return { a, b, port };
}
