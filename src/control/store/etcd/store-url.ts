import { TrellisError } from '../../../errors.js';

export interface EtcdTarget {
  /** Client URLs as the etcd3 library wants them: http://host:port */
  hosts: string[];
  /** Key prefix, always ending in `/` (default `/trellis/`). */
  prefix: string;
}

/**
 * Parses `etcd://host:2379[,host:2379...][/prefix]` (the `--store` flag). Hosts are names,
 * IPv4 or bracketed IPv6 addresses with a port. The path, when given, becomes the key prefix,
 * so several meshes can share one etcd.
 */
export function parseEtcdUrl(text: string): EtcdTarget {
  const bad = (why: string): TrellisError => new TrellisError('TRELLIS_E_USAGE', `--store ${text}: ${why} (expected etcd://host:2379[,host:2379...][/prefix])`);
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(text);
  if (m === null) throw bad('not an etcd:// URL');
  const hosts: string[] = [];
  for (const part of (m[1] as string).split(',')) {
    const hp = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(part.trim());
    if (hp === null) throw bad(`"${part}" is not host:port`);
    const port = Number(hp[2]);
    if (port < 1 || port > 65535) throw bad(`port ${port} is out of range`);
    hosts.push(`http://${hp[1] as string}:${port}`);
  }
  const path = (m[2] ?? '/trellis').replace(/\/+$/, '');
  if (path === '' || !/^\/[A-Za-z0-9._/-]+$/.test(path)) throw bad(`prefix "${m[2] ?? ''}" may hold only letters, digits, . _ - /`);
  return { hosts, prefix: `${path}/` };
}
