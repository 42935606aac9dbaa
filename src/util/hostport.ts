import type { HostPort } from '../api/common.js';

/**
 * `host:port` with an IPv4 address, a DNS name or a bracketed IPv6 address (`[::1]:80`).
 * Port 0 means "pick a free port". Returns undefined when the text is not one.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] as string);
  return { host, port };
}

/** `host:port`, bracketing IPv6 hosts. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** `http://host:port` */
export function httpUrl(hp: HostPort): string {
  return `http://${formatHostPort(hp)}`;
}
