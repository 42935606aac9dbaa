import { isIP } from 'node:net';
import type { HostPort } from '../../api/common.js';

/**
 * When the REST API speaks HTTPS, and what its certificate names. Plain HTTP is kept only where
 * nobody but this machine's users can listen in: a loopback address. Anything else (a host's
 * address, a DNS name, the wildcards 0.0.0.0 and ::) is HTTPS with a certificate from the mesh
 * CA, unless forced on for loopback too (`--api-tls`; the tests use it).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && (mapped[1] as string).startsWith('127.');
}

export function apiUsesTls(listen: HostPort, forceTls: boolean): boolean {
  return forceTls || !isLoopbackHost(listen.host);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

export interface ServerNameInputs {
  /** Where the API and push servers listen. */
  listen: HostPort[];
  /** Names and addresses hosts use to reach this control plane (`--advertise-address`). */
  advertise: string[];
  /** This machine's host name. */
  hostname: string;
  /** This machine's addresses (used when a server listens on a wildcard). */
  interfaceAddresses: string[];
}

/**
 * DNS names and IP addresses for the control plane's server certificate (next to its SPIFFE ID,
 * which is what Trellis's own clients check): loopback always, every specific listen address,
 * the advertised names, and for a wildcard listener the host name and the machine's addresses,
 * so that curl and Prometheus can verify it with `--cacert ca/root.crt` too.
 */
export function serverCertificateNames(i: ServerNameInputs): { dns: string[]; ips: string[] } {
  const dns = new Set(['localhost']);
  const ips = new Set(['127.0.0.1', '::1']);
  const add = (name: string): void => {
    const h = name.replace(/^\[|\]$/g, '');
    if (h === '' || isWildcard(h)) return;
    if (isIP(h) !== 0) ips.add(h);
    else dns.add(h.toLowerCase());
  };
  for (const l of i.listen) {
    if (isWildcard(l.host)) {
      add(i.hostname);
      for (const a of i.interfaceAddresses) add(a);
    } else add(l.host);
  }
  for (const a of i.advertise) add(a);
  return { dns: [...dns], ips: [...ips] };
}

/** The API's https:// URLs for hosts to use (join tokens): advertised names first, else the listen address, else the machine's addresses. */
export function advertisedApiUrls(listen: HostPort, advertise: string[], interfaceAddresses: string[]): string[] {
  const hosts = advertise.length > 0 ? advertise : !isWildcard(listen.host) ? [listen.host] : interfaceAddresses;
  return hosts.map((h) => {
    const bare = h.replace(/^\[|\]$/g, '');
    return `https://${bare.includes(':') ? `[${bare}]` : bare}:${listen.port}`;
  });
}
