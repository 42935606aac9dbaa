/**
 * The commands a user runs on real machines to spread Trellis over hosts (docs/multi-host.md,
 * "Walk-through"), as argv: an etcd member per host (./etcd.ts), control-plane replicas over
 * that etcd with the CA sealed in it, join tokens made with the admin credential, and agents
 * that join with them. ./trellis-lab.ts runs them in order on lab hosts; `npm run hosts`
 * (./hosts.ts) prints each as typed.
 */
import { cliEntry } from '../../src/util/paths.js';

export const API_PORT = 15000;
export const PUSH_PORT = 15012;

/** How to run `trellis` here: the compiled CLI under this Node.js (a user types `trellis`). */
export function trellisCommand(): string[] {
  return [process.execPath, cliEntry];
}

/** The REST API of a replica on `address`: HTTPS (off loopback it always is; the lab also passes --api-tls). */
export function apiUrlOf(address: string): string {
  return `https://${address}:${API_PORT}`;
}

export function pushUrlOf(address: string): string {
  return `https://${address}:${PUSH_PORT}`;
}

/** `etcd://10.0.0.11:2379,10.0.0.12:2379,...` from the members' client URLs. */
export function etcdStoreUrl(etcdEndpoints: readonly string[]): string {
  return `etcd://${etcdEndpoints.map((u) => new URL(u).host).join(',')}`;
}

export interface ControlPlaneOnHost {
  /** Host address: the API and push listeners bind it (peers on other hosts dial it). */
  address: string;
  stateDir: string;
  trustDomain: string;
  certTtl: string;
  /** etcd client URLs (every member): the replicas' shared store. */
  etcdEndpoints: readonly string[];
  /** The 32-byte key (0600) that seals the CA key in etcd: the same file content on every replica. */
  sealKeyFile: string;
  logLevel?: string;
}

/** `trellis control-plane ...` on a host: one replica of several over the same etcd. */
export function controlPlaneArgv(o: ControlPlaneOnHost): string[] {
  return [
    ...trellisCommand(),
    'control-plane',
    '--state-dir', o.stateDir,
    '--api', `${o.address}:${API_PORT}`,
    '--push', `${o.address}:${PUSH_PORT}`,
    '--api-tls',
    '--advertise-address', o.address,
    '--trust-domain', o.trustDomain,
    '--cert-ttl', o.certTtl,
    '--store', etcdStoreUrl(o.etcdEndpoints),
    '--ca-seal-key-file', o.sealKeyFile,
    '--log-level', o.logLevel ?? 'info',
  ];
}

/** The seal key, as a user makes it once and copies to every replica host (mode 0600). */
export function sealKeyCommand(file: string): string {
  return `(umask 077; openssl rand -base64 32 > ${file})`;
}

export interface JoinTokenRequest {
  /** A replica's API (the admin credential is valid on every replica: tokens live in etcd). */
  apiUrl: string;
  host: string;
  /** `<namespace>/<serviceAccount>` patterns the host may run. */
  serviceAccounts: readonly string[];
  /** The mesh CA certificate to verify the API with (`<stateDir>/ca/root.crt` of a replica). */
  caFile: string;
  ttl?: string;
}

/**
 * `trellis token create --host <h> ...`, run where the admin credential is (a replica's host):
 * the admin token goes in `$TRELLIS_TOKEN` (kept off the command line), the token comes out on
 * stdout.
 */
export function tokenCreateArgv(o: JoinTokenRequest): string[] {
  return [
    ...trellisCommand(),
    'token', 'create',
    '--host', o.host,
    ...o.serviceAccounts.flatMap((sa) => ['--service-account', sa]),
    '--ttl', o.ttl ?? '1h',
    '--control-plane', o.apiUrl,
    '--ca-file', o.caFile,
  ];
}

export interface AgentOnHost {
  meshDir: string;
  stateDir: string;
  /** Every replica's API URL, the one this host should use first first. */
  controlPlaneUrls: readonly string[];
  advertiseAddress: string;
  /** File holding the host's join token (spent on the first start; later starts use the saved certificate). */
  joinTokenFile: string;
  logLevel?: string;
}

/** `trellis agent <mesh dir> --join ...` on a host; its host name (for `hosts:` placement) is the one the token names. */
export function agentArgv(o: AgentOnHost): string[] {
  if (o.controlPlaneUrls.length === 0) throw new Error('an agent needs a control plane URL');
  return [
    ...trellisCommand(),
    'agent', o.meshDir,
    '--join', o.joinTokenFile,
    '--control-plane', o.controlPlaneUrls.join(','),
    '--state-dir', o.stateDir,
    '--advertise-address', o.advertiseAddress,
    '--log-level', o.logLevel ?? 'info',
  ];
}

/** A command shown as a user would type it (`trellis` for the compiled CLI), for the walk-through `npm run hosts` prints. */
export function asTyped(argv: readonly string[], env: Record<string, string> = {}): string {
  const shown = argv[0] === process.execPath && argv[1] === cliEntry ? ['trellis', ...argv.slice(2)] : argv;
  const quote = (a: string): string => (/^[\w@%+=:,./*-]+$/.test(a) && !a.includes('*') ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...shown.map(quote)].join(' ');
}
