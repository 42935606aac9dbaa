import type { Duplex } from 'node:stream';
import type { Http1Attempt } from './client.js';

function noop(): void {}

/**
 * Relays raw bytes both ways after a 101 Switching Protocols or a 2xx to CONNECT: the bytes
 * that already arrived on each side go first, then both sockets are piped. `closed` is called
 * once, when either side closes or fails; both sockets are destroyed then.
 */
export function startTunnel(down: Duplex, up: Duplex, fromUp: Buffer, fromDown: Buffer, closed: () => void): void {
  let over = false;
  const end = (): void => {
    if (over) return;
    over = true;
    up.on('error', noop);
    down.on('error', noop);
    up.destroy();
    down.destroy();
    closed();
  };
  if (fromUp.length > 0) down.write(fromUp);
  if (fromDown.length > 0) up.write(fromDown);
  up.on('error', end);
  up.on('close', end);
  down.on('error', end);
  down.on('close', end);
  down.pipe(up);
  up.pipe(down);
  down.resume();
  up.resume();
}

/**
 * Turns the exchange's connection into a tunnel through `attempt`'s upstream socket: `head`
 * (the 101 or 2xx) goes down first, then raw bytes both ways. The attempt's lease stays held
 * (the open tunnel counts as load on its endpoint) until the tunnel closes; then `closed`.
 */
export function tunnelThrough(down: Duplex, attempt: Http1Attempt, head: Buffer, fromDown: Buffer, closed: () => void): void {
  const { socket, pending } = attempt.takeTunnel();
  down.write(head);
  startTunnel(down, socket, pending, fromDown, () => {
    attempt.tunnelClosed();
    closed();
  });
}
