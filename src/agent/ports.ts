import { createServer } from 'node:net';
import type { HostPort } from '../api/common.js';
import type { MeshConfig } from '../config/types.js';
import { TrellisError } from '../errors.js';
import { formatHostPort } from '../util/hostport.js';

/** Binds `host:port` (port 0: any free port), closes, and returns the port that was bound. */
export function probeBind(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * Hands out free loopback ports by binding port 0 and closing. Remembers what it gave out, so
 * one agent never hands the same port twice even if the kernel offers it again.
 */
export class PortAllocator {
  private readonly given = new Set<number>();
  constructor(private readonly host = '127.0.0.1') {}

  async allocate(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await probeBind(this.host, 0);
      if (!this.given.has(port)) {
        this.given.add(port);
        return port;
      }
    }
    throw new TrellisError('TRELLIS_E_PORT_IN_USE', `no free port on ${this.host}`);
  }

  /** Never hands out `port` (an app's fixed appPort: its app may not be listening yet). */
  reserve(port: number): void {
    this.given.add(port);
  }

  async allocateMany(n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await this.allocate());
    return out;
  }

  /** Resolves a configured address: port 0 gets a free port, a fixed port must be free now. */
  async claim(hp: HostPort, what: string): Promise<HostPort> {
    if (hp.port === 0) {
      const port = await probeBind(hp.host, 0);
      this.given.add(port);
      return { host: hp.host, port };
    }
    try {
      await probeBind(hp.host, hp.port);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${code ?? String(err)})`;
      throw new TrellisError('TRELLIS_E_PORT_IN_USE', `${what}: ${formatHostPort(hp)} ${why}`, { cause: err });
    }
    this.given.add(hp.port);
    return hp;
  }
}

/** What a fixed address is, for messages: `ingress web listen`, `workload a upstreams[0].listen`. */
export function describeFixed(kind: 'ingress' | 'upstream', name: string, index = 0, tls = false): string {
  if (kind === 'ingress') return tls ? `ingress ${name} tls.listen` : `ingress ${name} listen`;
  return `workload ${name} upstreams[${index}].listen`;
}

/** Fails with PORT_IN_USE if any fixed address of the mesh is taken (checked before anything starts). */
export async function checkFixedAddresses(mesh: Pick<MeshConfig, 'ingress' | 'workloads'>): Promise<void> {
  for (const g of mesh.ingress) {
    if (g.listen !== null && g.listen.port !== 0) await probeFixed(g.listen, describeFixed('ingress', g.name));
    if (g.tls !== null && g.tls.listen.port !== 0) await probeFixed(g.tls.listen, describeFixed('ingress', g.name, 0, true));
  }
  for (const w of mesh.workloads) {
    for (const [j, u] of w.upstreams.entries()) if (u.listen !== null && u.listen.port !== 0) await probeFixed(u.listen, describeFixed('upstream', w.name, j));
  }
}

async function probeFixed(hp: HostPort, what: string): Promise<void> {
  await new PortAllocator(hp.host).claim(hp, what);
}
