import type { Logger } from 'pino';
import { Agent, request, type Dispatcher } from 'undici';
import type { AgentCertificate } from '../../api/credentials.js';
import { API_PREFIX } from '../../api/registry.js';
import { TrellisError } from '../../errors.js';
import { describeCertificate } from '../../identity/certs.js';
import { controlPlaneTlsOptions } from '../../identity/control-plane-tls.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { agentSpiffeId } from '../../identity/spiffe.js';
import { WorkloadCredentials } from '../../identity/workload-credentials.js';
import { Backoff } from '../../util/backoff.js';
import type { Clock } from '../../util/clock.js';
import type { ControlPlaneCredential } from './credential.js';
import { writeHostFiles, type HostFiles } from './host-files.js';

/**
 * A joined host's credential: its certificate `spiffe://<td>/agent/<host>` presented over mTLS
 * on every call, the control plane verified against the bundle the join pinned. Renewed like a
 * proxy's: at about half its remaining life (+/-10 %), with a new key each time, the request
 * authenticated by the current certificate (or one just expired, within the grace period);
 * a failed renewal is retried after 1 s, doubling to 30 s, never later than half the time left.
 */
export class HostCredential implements ControlPlaneCredential {
  readonly boundAgentId: string;
  private readonly creds = new WorkloadCredentials();
  private agent: Agent;
  private timer: { cancel(): void } | null = null;
  private readonly retry = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  private closed = false;
  /** Which of files.apiUrls the next renewal goes to. */
  private renewAt = 0;

  constructor(
    private files: HostFiles,
    private readonly stateDir: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.boundAgentId = files.host;
    this.agent = this.newAgent();
    const info = describeCertificate(files.certChainPem[0] as string);
    this.creds.update({ keyPem: files.keyPem, certChainPem: files.certChainPem, notAfter: info.notAfter, serial: info.serial }, files.trustBundlePem);
  }

  get host(): string {
    return this.files.host;
  }

  get trustDomain(): string {
    return this.files.trustDomain;
  }

  get apiUrls(): readonly string[] {
    return this.files.apiUrls;
  }

  get notAfter(): Date {
    return (this.creds.current as { notAfter: Date }).notAfter;
  }

  prepare(): Promise<void> {
    this.schedule(this.creds.rotationDelayMs(this.clock.now()));
    return Promise.resolve();
  }

  headers(): Record<string, string> {
    return {};
  }

  dispatcher(): Dispatcher {
    return this.agent;
  }

  /** Nothing to reload: a refused certificate stays refused (the host was removed, or its policy forbids the call). */
  refresh(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    await this.agent.close();
  }

  /** One renewal now; resolves when the new certificate is in use (and saved). */
  async renew(): Promise<void> {
    const identity = agentSpiffeId(this.files.trustDomain, this.files.host);
    const { keyPem, csrPem } = await generateKeyAndCsr(identity);
    // Several replicas: a failed renewal tries the next one the next time (rotate() retries).
    const base = this.files.apiUrls[this.renewAt % this.files.apiUrls.length] as string;
    const url = `${base}${API_PREFIX}/agents/${encodeURIComponent(this.files.host)}/certificate`;
    let res;
    try {
      res = await request(url, { method: 'POST', dispatcher: this.agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csrPem }), headersTimeout: 10_000, bodyTimeout: 10_000 });
    } catch (err) {
      throw new TrellisError('TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `renewing the host certificate: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new TrellisError(res.statusCode === 401 || res.statusCode === 403 ? 'TRELLIS_E_UNAUTHORIZED' : 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE', `renewing the host certificate: ${res.statusCode} ${text.slice(0, 300)}`);
    const cert = JSON.parse(text) as AgentCertificate;
    this.files = { ...this.files, keyPem, certChainPem: cert.certChainPem, trustBundlePem: cert.trustBundlePem };
    await writeHostFiles(this.stateDir, this.files);
    const old = this.agent;
    this.agent = this.newAgent();
    // Calls in flight finish on the old connections; new ones use the new certificate.
    void old.close().catch(() => undefined);
    const info = describeCertificate(cert.certChainPem[0] as string);
    this.creds.update({ keyPem, certChainPem: cert.certChainPem, notAfter: info.notAfter, serial: info.serial }, cert.trustBundlePem);
    this.logger.info({ host: this.files.host, notAfter: cert.notAfter }, 'renewed the host certificate');
  }

  private newAgent(): Agent {
    return new Agent({ connect: controlPlaneTlsOptions(this.files.trustBundlePem, { keyPem: this.files.keyPem, certChainPem: this.files.certChainPem }) });
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => void this.rotate(), ms);
  }

  private async rotate(): Promise<void> {
    try {
      await this.renew();
      this.retry.reset();
      this.schedule(this.creds.rotationDelayMs(this.clock.now()));
    } catch (err) {
      if (this.closed) return;
      this.renewAt++;
      const left = this.notAfter.getTime() - this.clock.now();
      const wait = Math.max(200, Math.min(this.retry.next(), left > 0 ? left / 2 : Number.POSITIVE_INFINITY));
      this.logger.warn({ err: (err as Error).message, retryInMs: wait }, 'renewing the host certificate failed; retrying');
      this.schedule(wait);
    }
  }
}
