import type { Readable } from 'node:stream';
import { WorkloadCredentials } from '../identity/workload-credentials.js';
import { createAccessLog } from '../telemetry/access-log.js';
import { createLogger } from '../telemetry/logger.js';
import type { Logger } from '../telemetry/logger.js';
import { ProxyMetrics } from '../telemetry/metrics.js';
import { AdminServer, type AdminSource } from './admin/admin-server.js';
import { RemoteAdminServer } from './admin/remote-admin-server.js';
import { checkAdminToken } from './admin/admin-token.js';
import { loadBootstrap } from './bootstrap.js';
import { Backoff } from './control-client/backoff.js';
import { requestCertificate } from './control-client/certificates.js';
import type { IssuedCredentials } from './control-client/certificates.js';
import { PushClient } from './control-client/push-stream.js';
import { CertificateRotator } from './control-client/rotation.js';
import { ProxyRuntime } from './runtime.js';
import { TapHub } from './tap/tap-hub.js';

export interface RunProxyOptions {
  /** Exit (resolve `exited`) when this stream ends: the parent died, no orphans. The CLI passes process.stdin. */
  exitWhenClosed?: Readable;
  /** Called when exitWhenClosed ends; the CLI exits the process. */
  onExit?: () => void;
  logger?: Logger;
  /** Wall clock for the certificate-expiry part of readiness (tests). Default Date.now. */
  now?: () => number;
}

export interface RunningProxy {
  readonly runtime: ProxyRuntime;
  readonly adminUrl: string;
  drain(): Promise<void>;
  close(): void;
}

/**
 * Start order: bootstrap -> admin (/live 200, /ready 503) -> key + CSR -> certificate (token)
 * -> push stream, first snapshot -> listeners -> /ready 200.
 *
 * /ready answers 503 with its reason while `starting`, once `draining` (POST /drain or a
 * stop), and while the certificate is expired (`certificate expired`: peers refuse it, and a
 * proxy whose renewal keeps failing needs its agent to restart it with a new token).
 * POST /drain (admin token required) drains the listeners and leaves the admin listener up,
 * reporting `draining`, until the owner stops the process: the agent sees it and restarts it.
 */
export async function runProxy(bootstrapPath: string, options: RunProxyOptions = {}): Promise<RunningProxy> {
  // The admin token stays here: the runtime (and so GET /config) never sees it.
  const { adminToken: rawAdminToken, ...bootstrap } = await loadBootstrap(bootstrapPath);
  const adminToken = checkAdminToken(rawAdminToken);
  const logger = options.logger ?? createLogger({ level: bootstrap.logLevel, base: { node: bootstrap.node.id } });
  const now = options.now ?? Date.now;
  const credentials = new WorkloadCredentials();
  let ready = false;
  let draining: Promise<void> | null = null;
  let runtime: ProxyRuntime | null = null;
  let push: PushClient | null = null;
  let rotator: CertificateRotator | null = null;
  let closed = false;
  // Made before the admin server so /tap attaches at once (it sees requests once listeners run).
  const tap = new TapHub({ nodeId: bootstrap.node.id });

  const readiness = (): string => {
    if (draining !== null || runtime?.isDraining === true) return 'draining';
    if (!ready || runtime === null) return 'starting';
    if (credentials.expired(now())) return 'certificate expired';
    return 'ready';
  };
  const adminSource: AdminSource = {
    isReady: () => readiness() === 'ready',
    notReadyReason: readiness,
    ...(adminToken !== undefined ? { adminToken } : {}),
    metricsText: () => runtime?.metrics.text() ?? Promise.resolve(''),
    get metricsContentType() {
      return runtime?.metrics.contentType ?? 'text/plain';
    },
    configDump: () => runtime?.configDump() ?? { bootstrap: { node: bootstrap.node }, starting: true },
    drain: () => {
      logger.warn('POST /drain: draining; /ready answers 503 draining until this proxy is stopped');
      void drainTraffic();
    },
    tap,
  };
  const admin = new AdminServer(bootstrap.admin, adminSource);
  // Started once the first certificate is here (it serves with it); see RemoteAdminServer.
  let remoteAdmin: RemoteAdminServer | null = null;
  await admin.listen();
  logger.info({ admin: admin.url }, 'admin listening');

  /** Stops serving traffic (listeners drain, no more config or rotation); the admin listener stays. */
  const drainTraffic = (): Promise<void> => {
    draining ??= (async () => {
      ready = false;
      push?.stop();
      rotator?.stop();
      await runtime?.drain();
    })();
    return draining;
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    push?.stop();
    rotator?.stop();
    runtime?.close();
    void admin.close();
    void remoteAdmin?.close();
  };
  const running: RunningProxy = {
    get runtime(): ProxyRuntime {
      if (runtime === null) throw new Error('proxy not started');
      return runtime;
    },
    adminUrl: admin.url,
    async drain() {
      await drainTraffic();
      close();
      // Every access-log line of the drained requests is on disk before the process exits.
      await runtime?.accessLog.close();
    },
    close,
  };
  if (options.exitWhenClosed !== undefined) {
    let gone = false;
    const onGone = (): void => {
      if (gone) return;
      gone = true;
      logger.info('parent gone (stdin closed); stopping');
      close();
      // Exit once the access log has written what it accepted.
      void (runtime?.accessLog.close() ?? Promise.resolve()).finally(() => options.onExit?.());
    };
    options.exitWhenClosed.once('end', onGone);
    options.exitWhenClosed.once('close', onGone);
    options.exitWhenClosed.resume();
  }

  try {
    // First certificate: retried (the control plane may start after us), token is one-time
    // but a failed call did not consume it.
    const backoff = new Backoff(Math.random, 100, 5_000);
    let issued: IssuedCredentials | null = null;
    for (let attempt = 1; issued === null; attempt++) {
      try {
        issued = await requestCertificate(bootstrap, null, bootstrap.controlPlane.trustBundlePem);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (closed || code === 'TRELLIS_E_UNAUTHORIZED' || attempt >= 20) throw err;
        const delay = backoff.next();
        logger.warn({ err: (err as Error).message, retryInMs: delay }, 'certificate request failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    credentials.update(issued.creds, issued.trustBundlePem);
    logger.info({ serial: issued.creds.serial, notAfter: issued.creds.notAfter.toISOString() }, 'certificate issued');
    if (bootstrap.remoteAdmin !== undefined && !closed) {
      const remote = new RemoteAdminServer(bootstrap.remoteAdmin, adminSource, credentials, bootstrap.controlPlane.identity);
      await remote.listen();
      remoteAdmin = remote;
      if (closed) void remote.close();
      logger.info({ remoteAdmin: remote.url }, 'remote admin listening (mTLS, control plane only)');
    }

    // The access log warns through the proxy's logger and its counters are scraped with the metrics.
    const metrics = new ProxyMetrics();
    const accessLog = createAccessLog(bootstrap.accessLog, { logger });
    metrics.setAccessLogStats(() => accessLog.stats());
    const rt = new ProxyRuntime(bootstrap, { credentials, logger, adminUrl: () => admin.url, tap, metrics, accessLog });
    runtime = rt;
    const pc = new PushClient({ bootstrap, credentials, logger, apply: (s) => rt.applySnapshot(s), status: () => rt.status() });
    push = pc;
    // Rotation runs from the first certificate on: with a short TTL it may expire before the
    // first snapshot arrives, and the push stream needs a valid one.
    const rot = new CertificateRotator({ bootstrap, credentials, logger });
    rotator = rot;
    rot.start();
    pc.start();
    await pc.firstSnapshot;
    if (closed) return running;
    await rt.startListeners();
    if (draining !== null) {
      // POST /drain came while starting: stop what started since.
      pc.stop();
      rot.stop();
      void rt.drain();
      return running;
    }
    ready = true;
    pc.sendStatus();
    logger.info({ version: rt.version }, 'proxy ready');
    return running;
  } catch (err) {
    close();
    throw err;
  }
}
