/**
 * The HAProxy pair doing the Trellis pair's job: A (plain HTTP in, mTLS out) -> B (mTLS in,
 * plain HTTP to the server). One thread each (`nbthread 1`), because a Trellis proxy is one
 * Node.js event loop; keep-alive on both sides with `http-reuse always`; no logging.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { startChild } from './children.js';
import type { BenchPki } from './certs.js';
import { waitForPort } from './net-util.js';

export interface HaproxyPair {
  a: ChildProcess;
  b: ChildProcess;
  /** Where the load goes (haproxy A's plain listener). */
  port: number;
}

const GLOBAL = `global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.2
  ssl-default-server-options ssl-min-ver TLSv1.2

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
`;

export function haproxyConfigs(pki: BenchPki, ports: { a: number; b: number; server: number }): { a: string; b: string } {
  const a = `${GLOBAL}
frontend fe_plain
  bind 127.0.0.1:${ports.a}
  default_backend be_mtls

backend be_mtls
  server b 127.0.0.1:${ports.b} ssl crt ${pki.clientCrtKey} ca-file ${pki.caPem} verify required alpn http/1.1
`;
  const b = `${GLOBAL}
frontend fe_mtls
  bind 127.0.0.1:${ports.b} ssl crt ${pki.serverCrtKey} ca-file ${pki.caPem} verify required alpn http/1.1
  default_backend be_app

backend be_app
  server app 127.0.0.1:${ports.server}
`;
  return { a, b };
}

export async function startHaproxyPair(dir: string, pki: BenchPki, ports: { a: number; b: number; server: number }): Promise<HaproxyPair> {
  const cfg = haproxyConfigs(pki, ports);
  writeFileSync(join(dir, 'haproxy-a.cfg'), cfg.a);
  writeFileSync(join(dir, 'haproxy-b.cfg'), cfg.b);
  // Validate first so a config error reads clearly.
  for (const f of ['haproxy-b.cfg', 'haproxy-a.cfg']) {
    const check = spawnSync('haproxy', ['-c', '-f', join(dir, f)], { encoding: 'utf8', timeout: 10000 });
    if (check.status !== 0) throw new Error(`haproxy -c ${f} failed (is the Debian package haproxy installed?): ${check.error?.message ?? ''}${check.stdout}${check.stderr}`);
  }
  // -db: stay in the foreground, no daemon, no master process: the child pid is the proxy.
  const b = startChild('haproxy-b', 'haproxy', ['-db', '-f', join(dir, 'haproxy-b.cfg')]);
  const a = startChild('haproxy-a', 'haproxy', ['-db', '-f', join(dir, 'haproxy-a.cfg')]);
  await waitForPort(ports.b, 10000, b);
  await waitForPort(ports.a, 10000, a);
  return { a, b, port: ports.a };
}
