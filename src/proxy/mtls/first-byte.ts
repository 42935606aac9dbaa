import type { Socket } from 'node:net';
import type { Clock } from '../clock/clock.js';

/**
 * TLS record content type 22 (handshake): every TLS ClientHello, of every version, starts with
 * it. No plaintext protocol the mesh carries does: an HTTP/1 method is a letter, the HTTP/2
 * preface starts with `P`.
 */
export const TLS_HANDSHAKE_RECORD = 0x16;

/** What the first byte said, or why there was none. */
export type FirstByte = 'tls' | 'plaintext' | 'timeout' | 'closed';

/**
 * Waits for a connection's first byte and tells TLS from plaintext (PERMISSIVE inbound ports,
 * docs/security.md). It reads exactly one byte and puts it back (`unshift`), so whoever takes
 * the socket next (the TLS server, the HTTP/1 codec, the HTTP/2 session, the TCP relay) sees
 * the stream untouched; nothing beyond what the kernel already delivered is buffered.
 *
 * A peer that sends nothing within `timeoutMs` (a slowloris first byte) gets 'timeout', and
 * one that closes first gets 'closed'; the caller destroys the socket. Hand-written because it
 * sits on the accept path of every inbound connection, and there is no library for one byte.
 */
export function sniffFirstByte(socket: Socket, timeoutMs: number, clock: Clock, done: (r: FirstByte) => void): void {
  let settled = false;
  const finish = (r: FirstByte): void => {
    if (settled) return;
    settled = true;
    clock.clearTimer(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onClosed);
    socket.removeListener('close', onClosed);
    socket.removeListener('error', onClosed);
    done(r);
  };
  const onReadable = (): void => {
    const b = socket.read(1) as Buffer | null;
    // null: 'readable' announced the end of the stream ('end' follows) or nothing yet.
    if (b === null || b.length === 0) return;
    socket.unshift(b);
    finish(b[0] === TLS_HANDSHAKE_RECORD ? 'tls' : 'plaintext');
  };
  const onClosed = (): void => finish('closed');
  const timer = clock.setTimer(() => finish('timeout'), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('end', onClosed);
  socket.once('close', onClosed);
  socket.once('error', onClosed);
}
