import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { TrellisError } from '../errors.js';
import { controlPlaneTlsOptions } from '../identity/control-plane-tls.js';
import { resolveControlPlane, rememberResolution, stateDirServing, type ResolvedControlPlane } from './control-plane-address.js';
import type { Io } from './io.js';

/**
 * How the CLI authenticates to the control plane (docs/cli.md, "Credentials"). The token, first
 * found wins:
 *
 * 1. `--token T` (a global option: any command, before or after its name);
 * 2. `$TRELLIS_TOKEN`;
 * 3. `<D>/admin-token` for the state directory D that goes with the control plane: `--state-dir`
 *    where a command has it, else the mesh the address came from (./.trellis, or the last
 *    `trellis up`), else the one of those two whose control plane has the same address as
 *    `--control-plane`/`$TRELLIS_CONTROL_PLANE`;
 * 4. none (the control plane answers 401 and the error says what to do).
 *
 * An https:// control plane is verified against `--ca-file`, `$TRELLIS_CA_FILE`, or that state
 * directory's `ca/root.crt`: its certificate must chain to it and carry the control plane's
 * SPIFFE ID (src/identity/control-plane-tls.ts).
 */
export interface ControlPlaneConnection {
  url: string;
  /** `authorization` when a token was found. */
  headers: Record<string, string>;
  /** For https: an undici Agent that verifies the control plane. */
  dispatcher?: Dispatcher;
  /** Where the token came from (for a 401's message), or why there is none. */
  tokenSource: string;
}

export interface GlobalOptions {
  token?: string;
  caFile?: string;
}

const globals = new WeakMap<Io, GlobalOptions>();

/** `--token T`, `--token=T`, `--ca-file F`, `--ca-file=F` taken out of argv (run.ts), kept for this invocation. */
export function takeGlobalOptions(argv: string[], io: Io): string[] {
  const out: string[] = [];
  const g: GlobalOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const m = /^--(token|ca-file)(?:=(.*))?$/.exec(a);
    if (m === null) {
      out.push(a);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') throw new TrellisError('TRELLIS_E_USAGE', `--${m[1]} needs a value`);
    if (m[1] === 'token') g.token = value;
    else g.caFile = value;
  }
  globals.set(io, g);
  return out;
}

function readTrimmed(path: string): string | null {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t === '' ? null : t;
  } catch {
    return null;
  }
}

/** The state directory whose credentials go with this control plane, if any. */
function stateDirFor(r: ResolvedControlPlane, stateDirFlag: string | undefined, io: Io): string | undefined {
  if (stateDirFlag !== undefined) return resolve(io.cwd, stateDirFlag);
  if (r.stateDir !== undefined) return r.stateDir;
  return stateDirServing(r.url, io);
}

/** The control plane's URL for this invocation and the state directory whose credentials go with it, if found. */
export function controlPlaneAndStateDir(flag: string | undefined, io: Io): { url: string; stateDir: string | undefined } {
  const r = resolveControlPlane(flag, io);
  rememberResolution(io, r);
  return { url: r.url, stateDir: stateDirFor(r, undefined, io) };
}

/**
 * The control plane for this invocation (resolveControlPlane) with its credentials. `stateDir`
 * is a command's `--state-dir`, when it has one.
 */
export function connectControlPlane(flag: string | undefined, io: Io, stateDirFlag?: string): ControlPlaneConnection {
  const r = resolveControlPlane(flag, io);
  rememberResolution(io, r);
  const g = globals.get(io) ?? {};
  const dir = stateDirFor(r, stateDirFlag, io);
  let token: string | null = null;
  let tokenSource: string;
  if (g.token !== undefined) {
    token = g.token;
    tokenSource = '--token';
  } else if (io.env.TRELLIS_TOKEN !== undefined && io.env.TRELLIS_TOKEN !== '') {
    token = io.env.TRELLIS_TOKEN.trim();
    tokenSource = '$TRELLIS_TOKEN';
  } else if (dir !== undefined && (token = readTrimmed(join(dir, 'admin-token'))) !== null) {
    tokenSource = join(dir, 'admin-token');
  } else {
    tokenSource = dir === undefined ? 'no token: no --token, no $TRELLIS_TOKEN, and no state directory of this control plane found' : `no token: ${join(dir, 'admin-token')} cannot be read`;
  }
  const conn: ControlPlaneConnection = { url: r.url, headers: token === null ? {} : { authorization: `Bearer ${token}` }, tokenSource };
  if (r.url.startsWith('https://')) conn.dispatcher = tlsDispatcher(g.caFile ?? io.env.TRELLIS_CA_FILE, dir, io);
  return conn;
}

function tlsDispatcher(caFile: string | undefined, dir: string | undefined, io: Io): Dispatcher {
  const path = caFile !== undefined && caFile !== '' ? resolve(io.cwd, caFile) : dir !== undefined ? join(dir, 'ca', 'root.crt') : undefined;
  const pem = path === undefined ? null : readTrimmed(path);
  if (pem === null) {
    throw new TrellisError(
      'TRELLIS_E_USAGE',
      `the control plane speaks HTTPS and no CA certificate to verify it was found${path !== undefined ? ` (${path} cannot be read)` : ''}: pass --ca-file <stateDir>/ca/root.crt or set $TRELLIS_CA_FILE`,
    );
  }
  try {
    return new Agent({ connect: controlPlaneTlsOptions([pem]) });
  } catch (err) {
    throw new TrellisError('TRELLIS_E_USAGE', `${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** What the CLI says about a 401/403 from the control plane. */
export function unauthorizedHint(conn: ControlPlaneConnection, status: number): string {
  if (status === 403) return `the token (from ${conn.tokenSource}) is not allowed to do this`;
  const from = conn.headers.authorization === undefined ? conn.tokenSource : `the token from ${conn.tokenSource} was refused`;
  return `${from}; pass --token or set $TRELLIS_TOKEN (an admin token: <stateDir>/admin-token; others: trellis token create --role read|admin)`;
}
