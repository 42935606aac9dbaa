import type { Readable } from 'node:stream';
import { WorkloadCredentials } from '../identity/workload-credentials.js';
import { createAccessLog } from '../telemetry/access-log.js';
import { createLogger } from '../telemetry/logger.js';
import type { Logger } from '../telemetry/logger.js';
import { ProxyMetrics } from '../telemetry/metrics.js';
import { AdminServer } from './admin/admin-server.js';
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
  /** Called when exitWhenClosed ends or POST /drain finished; the CLI exits the process. */
  onExit?: () => void;
  logger?: Logger;
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
 */
export async function runProxy(bootstrapPath: string, options: RunProxyOptions = {}): Promise<RunningProxy> {
  const bootstrap = await loadBootstrap(bootstrapPath);
  const logger = options.logger ?? createLogger({ level: bootstrap.logLevel, base: { node: bootstrap.node.id } });
  const credentials = new WorkloadCredentials();
  let ready = false;
  let runtime: ProxyRuntime | null = null;
  let push: PushClient | null = null;
  let rotator: CertificateRotator | null = null;
  let closed = false;
  // Made before the admin server so /tap attaches at once (it sees requests once listeners run).
  const tap = new TapHub({ nodeId: bootstrap.node.id });

  const admin = new AdminServer(bootstrap.admin, {
    isReady: () => ready && runtime !== null && !runtime.isDraining,
    metricsText: () => runtime?.metrics.text() ?? Promise.resolve(''),
    get metricsContentType() {
      return runtime?.metrics.contentType ?? 'text/plain';
    },
    configDump: () => runtime?.configDump() ?? { bootstrap: { node: bootstrap.node }, starting: true },
    drain: () => {
      void running.drain().then(() => options.onExit?.());
    },
    tap,
  });
  await admin.listen();
  logger.info({ admin: admin.url }, 'admin listening');

  const close = (): void => {
    if (closed) return;
    closed = true;
    push?.stop();
    rotator?.stop();
    runtime?.close();
    void admin.close();
  };
  const running: RunningProxy = {
    get runtime(): ProxyRuntime {
      if (runtime === null) throw new Error('proxy not started');
      return runtime;
    },
    adminUrl: admin.url,
    async drain() {
      ready = false;
      push?.stop();
      rotator?.stop();
      await runtime?.drain();
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

    // The access log warns through the proxy's logger and its counters are scraped with the metrics.
    const metrics = new ProxyMetrics();
    const accessLog = createAccessLog(bootstrap.accessLog, { logger });
    metrics.setAccessLogStats(() => accessLog.stats());
    const rt = new ProxyRuntime(bootstrap, { credentials, logger, adminUrl: () => admin.url, tap, metrics, accessLog });
    runtime = rt;
    const pc = new PushClient({ bootstrap, credentials, logger, apply: (s) => rt.applySnapshot(s), status: () => rt.status() });
    push = pc;
    pc.start();
    await pc.firstSnapshot;
    if (closed) return running;
    rotator = new CertificateRotator({ bootstrap, credentials, logger });
    rotator.start();
    await rt.startListeners();
    ready = true;
    pc.sendStatus();
    logger.info({ version: rt.version }, 'proxy ready');
    return running;
  } catch (err) {
    close();
    throw err;
  }
}
