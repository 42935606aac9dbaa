import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { TrellisError } from '../../errors.js';
import { controlPlaneTlsOptions } from '../../identity/control-plane-tls.js';
import type { ControlPlaneCredential } from './credential.js';

export function agentTokenPath(stateDir: string): string {
  return join(stateDir, 'agent-token');
}

/**
 * The state directory's agent-token, for an agent sharing its control plane's state directory.
 * Over https (a control plane forced to TLS, or reached by a non-loopback address) the server is
 * verified against the same folder's `ca/root.crt`. On a refusal the file is read again once
 * (a control plane started afresh may have written a new token).
 */
export class LocalAgentToken implements ControlPlaneCredential {
  private token: string | null = null;
  private agent: Agent | undefined;

  constructor(
    private readonly stateDir: string,
    /** The control plane's REST API URL(s): any https one means the server is verified. */
    private readonly apiUrls: string | readonly string[],
  ) {}

  async prepare(): Promise<void> {
    await this.load();
    const urls = typeof this.apiUrls === 'string' ? this.apiUrls.split(',') : this.apiUrls;
    if (urls.some((u) => u.trim().startsWith('https://')) && this.agent === undefined) {
      const caFile = join(this.stateDir, 'ca', 'root.crt');
      let pem: string;
      try {
        pem = await readFile(caFile, 'utf8');
      } catch (err) {
        throw new TrellisError('TRELLIS_E_UNAUTHORIZED', `the control plane speaks HTTPS and there is no CA certificate at ${caFile} to verify it (does the control plane use this state directory? on another host, use --join)`, { cause: err });
      }
      this.agent = new Agent({ connect: controlPlaneTlsOptions([pem]) });
    }
  }

  private async load(): Promise<void> {
    const file = agentTokenPath(this.stateDir);
    try {
      this.token = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new TrellisError('TRELLIS_E_UNAUTHORIZED', `no agent token at ${file} (does the control plane use this state directory? on another host, use --join)`, { cause: err });
    }
  }

  headers(): Record<string, string> {
    return this.token === null ? {} : { authorization: `Bearer ${this.token}` };
  }

  dispatcher(): Dispatcher | undefined {
    return this.agent;
  }

  async refresh(): Promise<boolean> {
    await this.load();
    return true;
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}
