import type { Server } from 'node:net';
import type { HostPort } from '../api/common.js';
import { TrellisError } from '../errors.js';

/** Listens and resolves to the bound address; EADDRINUSE becomes TRELLIS_E_PORT_IN_USE. */
export function listenOn(server: Server, at: HostPort, what: string): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(new TrellisError('TRELLIS_E_PORT_IN_USE', `${what} address ${formatHostPort(at)} is already in use`, { where: what, cause: err }));
      } else {
        reject(new TrellisError('TRELLIS_E_CONFIG', `cannot listen on ${formatHostPort(at)} for ${what}: ${err.message}`, { cause: err }));
      }
    };
    const onListening = (): void => {
      server.off('error', onError);
      const a = server.address();
      if (a === null || typeof a === 'string') throw new Error('expected a TCP address');
      resolve({ host: at.host, port: a.port });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(at.port, at.host);
  });
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export function urlOf(scheme: 'http' | 'https', a: HostPort): string {
  return `${scheme}://${formatHostPort(a)}`;
}
