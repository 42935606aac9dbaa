import { DEFAULT_TRACE_SAMPLING, isHttpUrl } from '../../config/schema.js';
import type { TracingSettings } from '../../config/types.js';
import { parseDuration } from '../../util/duration.js';
import { parseHostPort } from '../../util/hostport.js';
import { isLogLevel } from '../../util/log.js';
import { resolve } from 'node:path';
import type { EtcdSettings } from '../../control/backend.js';
import { parseEtcdUrl } from '../../control/store/etcd/store-url.js';
import { parse, str, type Parsed } from '../args.js';
import { UsageError, type Command } from '../io.js';
import { onSignals, onStdinClose } from '../lifecycle.js';

const usage = `Usage: trellis control-plane --state-dir D --api HOST:PORT --push HOST:PORT --trust-domain TD --cert-ttl DUR [--log-level L]
       [--trace-sampling R] [--trace-collector URL | --no-tracing] [--default-action A] [--stats-interval DUR]
       [--exit-on-stdin-close] [--api-tls] [--advertise-address A[,A...]]
       [--store etcd://HOST:PORT[,HOST:PORT...][/PREFIX] (--ca-seal-key-file F | --ca-dir D)]

Runs the control plane in the foreground (\`trellis up\` starts it as a child process).
Writes <state-dir>/agent-token, admin-token, read-token (0600) and control-plane.json on start.
The REST API is HTTPS (certificate from the mesh CA) when --api is not a loopback address.
SIGTERM or SIGINT: close and exit 0.

Options:
  --state-dir D            state directory (store, CA, tokens; with --store etcd: only
                           control-plane.json, agent-token and logs)
  --api HOST:PORT          REST API address (port 0: any free port)
  --push HOST:PORT         push API address for proxies (port 0: any free port)
  --trust-domain TD        SPIFFE trust domain
  --cert-ttl DUR           workload certificate lifetime (e.g. 24h, 10s)
  --log-level L            trace|debug|info|warn|error (default info)
  --trace-sampling R       share of new traces proxies record, 0..1 (default 0.01)
  --trace-collector URL    OTLP/HTTP traces URL proxies export to (default: this control
                           plane's own /v1/traces, shown by GET /api/v1/traces)
  --no-tracing             proxies record no spans (snapshots carry no tracing)
  --default-action A       allow|deny|authenticated: what a service's inbound port does with a
                           request no ALLOW policy matched, unless a policy sets its own
                           defaultAction (the mesh file's spec.authorization; default allow)
  --stats-interval DUR     how often the dashboard's stats scrape every proxy while someone
                           watches (default 2s, at least 100ms)
  --api-tls                serve the REST API over HTTPS on loopback too (it always is off loopback)
  --advertise-address A    names or addresses hosts reach this control plane at, comma-separated:
                           put in its certificate and in join tokens (default: the --api host,
                           or every address of this machine when that is 0.0.0.0 or ::)
  --exit-on-stdin-close    exit when stdin closes (used by \`trellis up\`)
  --store URL              keep the state in etcd instead of <state-dir>/store, so several
                           control planes (replicas) serve one mesh: etcd://host:2379[,...]
                           with an optional /prefix (default /trellis). docs/multi-host.md
  --ca-seal-key-file F     with --store: the CA key is kept in etcd, sealed (AES-256-GCM) with
                           the 32-byte key in F (mode 0600; \`openssl rand -base64 32\`); the
                           same file on every replica
  --ca-dir D               with --store, instead of --ca-seal-key-file: every replica loads the
                           CA from D (root.key, root.crt; created on the first start)
  -h, --help               this text
`;

export const controlPlaneCommand: Command = {
  name: 'control-plane',
  usage,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        'state-dir': { type: 'string' },
        api: { type: 'string' },
        push: { type: 'string' },
        'trust-domain': { type: 'string' },
        'cert-ttl': { type: 'string' },
        'log-level': { type: 'string' },
        'trace-sampling': { type: 'string' },
        'trace-collector': { type: 'string' },
        'no-tracing': { type: 'boolean' },
        'default-action': { type: 'string' },
        'stats-interval': { type: 'string' },
        'exit-on-stdin-close': { type: 'boolean' },
        store: { type: 'string' },
        'ca-seal-key-file': { type: 'string' },
        'ca-dir': { type: 'string' },
        'api-tls': { type: 'boolean' },
        'advertise-address': { type: 'string' },
      },
      usage,
      io.out,
      0,
    );
    if (p === null) return 0;
    const need = (name: string): string => {
      const v = str(p, name);
      if (v === undefined) throw new UsageError(`--${name} is required`, usage);
      return v;
    };
    const api = parseHostPort(need('api'));
    const push = parseHostPort(need('push'));
    if (api === undefined) throw new UsageError('--api must be host:port', usage);
    if (push === undefined) throw new UsageError('--push must be host:port', usage);
    const certTtlMs = parseDuration(need('cert-ttl'));
    if (certTtlMs === undefined) throw new UsageError('--cert-ttl must be a duration such as 24h or 10s', usage);
    const logLevel = str(p, 'log-level') ?? 'info';
    if (!isLogLevel(logLevel)) throw new UsageError(`--log-level must be one of trace, debug, info, warn, error`, usage);
    const stateDir = resolve(io.cwd, need('state-dir'));
    const trustDomain = need('trust-domain');
    const tracing = tracingOptions(p);
    const defaultAction = str(p, 'default-action') ?? 'allow';
    if (defaultAction !== 'allow' && defaultAction !== 'deny' && defaultAction !== 'authenticated') throw new UsageError(`--default-action must be allow, deny or authenticated, got "${defaultAction}"`, usage);
    const statsIntervalText = str(p, 'stats-interval');
    // Not a duration reads as -1: refused below like one that is too short.
    const statsIntervalMs = statsIntervalText === undefined ? undefined : (parseDuration(statsIntervalText) ?? -1);
    if (statsIntervalMs !== undefined && statsIntervalMs < 100) throw new UsageError(`--stats-interval must be a duration of at least 100ms such as 2s, got "${statsIntervalText}"`, usage);

    const etcd = etcdOptions(p, io.cwd);

    const { runControlPlane } = await import('../../control/main.js');
    const advertise = (str(p, 'advertise-address') ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
    for (const a of advertise) {
      if (!/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:.]+|[A-Za-z0-9.-]+)$/.test(a)) throw new UsageError(`--advertise-address: "${a}" is not a host name or an IP address`, usage);
    }
    const cp = await runControlPlane({ stateDir, api, push, trustDomain, certTtlMs, logLevel, tracing: tracing ?? undefined, statsIntervalMs, defaultAction, etcd, apiTls: p.values['api-tls'] === true, advertise });
    io.err(`trellis: control plane api=${cp.apiUrl} push=${cp.pushUrl}\n`);
    return new Promise<number>((done) => {
      let closing = false;
      const close = (): void => {
        if (closing) return;
        closing = true;
        cp.close().then(
          () => done(0),
          (err: unknown) => {
            io.err(`trellis: control plane close failed: ${String(err)}\n`);
            done(1);
          },
        );
      };
      onSignals(close, () => done(1));
      if (p.values['exit-on-stdin-close'] === true) onStdinClose(close);
    });
  },
};

/** `--store` with `--ca-seal-key-file` or `--ca-dir` (checked here: exactly one, and only with --store). */
export function etcdOptions(p: Parsed, cwd: string): EtcdSettings | undefined {
  const store = str(p, 'store');
  const sealKey = str(p, 'ca-seal-key-file');
  const caDir = str(p, 'ca-dir');
  if (store === undefined) {
    if (sealKey !== undefined || caDir !== undefined) throw new UsageError('--ca-seal-key-file and --ca-dir go with --store etcd://...', usage);
    return undefined;
  }
  try {
    parseEtcdUrl(store);
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
  if ((sealKey === undefined) === (caDir === undefined)) throw new UsageError('--store etcd:// needs one of --ca-seal-key-file FILE or --ca-dir DIR (where the shared CA comes from)', usage);
  return { url: store, ...(sealKey !== undefined ? { caSealKeyFile: resolve(cwd, sealKey) } : { caDir: resolve(cwd, caDir as string) }) };
}

/**
 * `--trace-*` / `--no-tracing` as the control plane's tracing settings: null = off, undefined =
 * nothing said (the control plane's default: to itself on the file store, off over etcd).
 */
export function tracingOptions(p: Parsed): TracingSettings | null | undefined {
  const sampling = str(p, 'trace-sampling');
  const collector = str(p, 'trace-collector');
  if (p.values['no-tracing'] === true) {
    if (sampling !== undefined || collector !== undefined) throw new UsageError('--no-tracing cannot be combined with --trace-sampling or --trace-collector', usage);
    return null;
  }
  if (sampling === undefined && collector === undefined) return undefined;
  const ratio = sampling === undefined ? DEFAULT_TRACE_SAMPLING : Number(sampling);
  if (sampling !== undefined && (sampling.trim() === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1)) {
    throw new UsageError(`--trace-sampling must be a number from 0 to 1, got "${sampling}"`, usage);
  }
  if (collector !== undefined && !isHttpUrl(collector)) throw new UsageError(`--trace-collector must be an http:// or https:// URL, got "${collector}"`, usage);
  return { samplingRatio: ratio, collector: collector ?? null };
}
