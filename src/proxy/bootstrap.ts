import { readFile } from 'node:fs/promises';
import type { HostPort } from '../api/common.js';
import { PROTOCOLS } from '../api/common.js';
import type { AccessLogFileConfig, ProxyBootstrap } from '../api/bootstrap.js';
import { TrellisError } from '../errors.js';
import { parseSpiffeId } from '../identity/spiffe.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/** Reads and validates the bootstrap file once at start; errors name the file and field. */
export async function loadBootstrap(path: string): Promise<ProxyBootstrap> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new TrellisError('TRELLIS_E_CONFIG', `cannot read bootstrap: ${(err as Error).message}`, { where: path, cause: err });
  }
  const problem = checkBootstrap(raw);
  if (problem !== null) throw new TrellisError('TRELLIS_E_CONFIG', problem, { where: path });
  return raw as ProxyBootstrap;
}

function isHostPort(v: unknown): v is HostPort {
  const h = v as Partial<HostPort> | null;
  return typeof h === 'object' && h !== null && typeof h.host === 'string' && Number.isInteger(h.port) && (h.port as number) >= 0 && (h.port as number) <= 65535;
}

/** Returns the first problem as `field: message`, or null. */
export function checkBootstrap(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const b = v as Partial<ProxyBootstrap>;
  if (typeof b.node !== 'object' || b.node === null) return 'node: missing';
  if (typeof b.node.id !== 'string' || b.node.id === '') return 'node.id: expected a string';
  if (typeof b.node.identity !== 'string' || parseSpiffeId(b.node.identity) === null) return 'node.identity: not a SPIFFE ID';
  const cp = b.controlPlane;
  if (typeof cp !== 'object' || cp === null) return 'controlPlane: missing';
  try {
    if (new URL(cp.pushUrl).protocol !== 'https:') return 'controlPlane.pushUrl: expected https://';
  } catch {
    return 'controlPlane.pushUrl: not a URL';
  }
  if (cp.pushUrls !== undefined) {
    if (!Array.isArray(cp.pushUrls) || cp.pushUrls.length === 0) return 'controlPlane.pushUrls: expected a non-empty list of https:// URLs';
    for (const [i, u] of cp.pushUrls.entries()) {
      let ok = false;
      try {
        ok = typeof u === 'string' && new URL(u).protocol === 'https:';
      } catch {
        ok = false;
      }
      if (!ok) return `controlPlane.pushUrls[${i}]: expected an https:// URL`;
    }
  }
  if (!Array.isArray(cp.trustBundlePem) || cp.trustBundlePem.length === 0) return 'controlPlane.trustBundlePem: expected PEM certificates';
  if (typeof cp.identity !== 'string' || cp.identity === '') return 'controlPlane.identity: expected a SPIFFE ID';
  if (typeof cp.token !== 'string') return 'controlPlane.token: expected a string';
  if (!isHostPort(b.admin)) return 'admin: expected {host, port}';
  if (b.remoteAdmin !== undefined && !isHostPort(b.remoteAdmin)) return 'remoteAdmin: expected {host, port}';
  if (!Array.isArray(b.inbound)) return 'inbound: expected an array';
  for (const [i, l] of b.inbound.entries()) {
    if (typeof l?.name !== 'string') return `inbound[${i}].name: expected a string`;
    if (!PROTOCOLS.includes(l.protocol)) return `inbound[${i}].protocol: expected one of ${PROTOCOLS.join(', ')}`;
    if (!isHostPort(l.listen)) return `inbound[${i}].listen: expected {host, port}`;
    if (!isHostPort(l.app)) return `inbound[${i}].app: expected {host, port}`;
  }
  if (!Array.isArray(b.outbound)) return 'outbound: expected an array';
  for (const [i, l] of b.outbound.entries()) {
    if (typeof l?.name !== 'string') return `outbound[${i}].name: expected a string`;
    if (!PROTOCOLS.includes(l.protocol)) return `outbound[${i}].protocol: expected one of ${PROTOCOLS.join(', ')}`;
    if (!isHostPort(l.listen)) return `outbound[${i}].listen: expected {host, port}`;
    if (typeof l.cluster !== 'string') return `outbound[${i}].cluster: expected a string`;
    const e = l.egress as { port?: unknown; protocol?: unknown; mode?: unknown } | undefined;
    if (e !== undefined) {
      if (typeof e.port !== 'number' || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return `outbound[${i}].egress.port: expected 1..65535`;
      if (e.protocol !== 'http' && e.protocol !== 'tls') return `outbound[${i}].egress.protocol: expected http or tls`;
      if (e.mode !== 'allowAny' && e.mode !== 'registryOnly') return `outbound[${i}].egress.mode: expected allowAny or registryOnly`;
    }
  }
  if (typeof b.drainTimeoutMs !== 'number' || b.drainTimeoutMs < 0) return 'drainTimeoutMs: expected a number >= 0';
  const problem = checkAccessLog(b.accessLog);
  if (problem !== null) return problem;
  if (!LEVELS.includes(b.logLevel as string)) return `logLevel: expected one of ${LEVELS.join(', ')}`;
  return null;
}

/** 'off', 'stdout', a path, or {path, maxBytes, keep} (src/api/bootstrap.ts AccessLogFileConfig). */
function checkAccessLog(a: unknown): string | null {
  if (typeof a === 'string') return null;
  if (typeof a !== 'object' || a === null) return 'accessLog: expected off, stdout, a path or {path, maxBytes, keep}';
  const f = a as Partial<AccessLogFileConfig>;
  if (typeof f.path !== 'string' || f.path === '') return 'accessLog.path: expected a file path';
  if (!Number.isSafeInteger(f.maxBytes) || (f.maxBytes as number) < 1) return 'accessLog.maxBytes: expected a whole number of bytes >= 1';
  if (!Number.isSafeInteger(f.keep) || (f.keep as number) < 0) return 'accessLog.keep: expected a whole number >= 0';
  return null;
}
