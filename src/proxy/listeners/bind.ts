import type { Server } from 'node:net';
import type { HostPort } from '../../api/common.js';

/** Binds a server (net, tls, http) and resolves once it listens; a bind error (EADDRINUSE) rejects. */
export function listenOn(server: Server, at: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

/** The port a server is bound to (the real one when it was asked for port 0), or 0 when not bound. */
export function boundPort(server: Server): number {
  const a = server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}
