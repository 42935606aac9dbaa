import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InboundListenerConfig, OutboundListenerConfig, ProxyBootstrap } from '../../api/bootstrap.js';
import type { ClusterConfig, EndpointConfig, ProxySnapshot } from '../../api/snapshot.js';
import type { Protocol } from '../../api/common.js';
import { CertificateAuthority } from '../../identity/ca.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { WorkloadCredentials } from '../../identity/workload-credentials.js';
import type { WorkloadCredentialSet } from '../../identity/workload-credentials.js';
import { silentLogger } from '../../telemetry/logger.js';
import { ProxyRuntime } from '../runtime.js';
import type { RuntimeDeps } from '../runtime.js';

/** Test helpers: a real CA in a temp dir, real certificates, in-process proxies. */
export const TD = 'test.local';
export const id = (sa: string, td = TD): string => `spiffe://${td}/ns/default/sa/${sa}`;

export interface TestPki {
  ca: CertificateAuthority;
  dir: string;
  issue(identity: string, ttlMs?: number): Promise<WorkloadCredentialSet>;
  credentials(identity: string, ttlMs?: number): Promise<WorkloadCredentials>;
  cleanup(): Promise<void>;
}

export async function testPki(td = TD): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-proxy-test-'));
  const ca = await CertificateAuthority.loadOrCreate(join(dir, 'ca'), td);
  const issue = async (identity: string, ttlMs = 3_600_000): Promise<WorkloadCredentialSet> => {
    const { keyPem, csrPem } = await generateKeyAndCsr(identity);
    const signed = await ca.signCsr(csrPem, identity, ttlMs);
    return { keyPem, certChainPem: signed.certChainPem, notAfter: signed.notAfter, serial: signed.serial };
  };
  return {
    ca,
    dir,
    issue,
    async credentials(identity, ttlMs) {
      const c = new WorkloadCredentials();
      c.update(await issue(identity, ttlMs), ca.trustBundlePem());
      return c;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function bootstrap(identity: string, inbound: InboundListenerConfig[], outbound: OutboundListenerConfig[]): ProxyBootstrap {
  return {
    node: { id: `default/${identity.split('/').pop() ?? 'x'}/0`, namespace: 'default', workload: 'w', service: 's', serviceAccount: 'sa', replica: 0, identity },
    controlPlane: { pushUrl: 'https://127.0.0.1:1', trustBundlePem: [], identity: id('control-plane'), token: 'secret-token' },
    admin: { host: '127.0.0.1', port: 0 },
    inbound,
    outbound,
    drainTimeoutMs: 2_000,
    accessLog: 'off',
    logLevel: 'error',
  };
}

export function cluster(name: string, protocol: Protocol, endpoints: EndpointConfig[], loadBalancer: ClusterConfig['loadBalancer'] = 'peak-ewma'): ClusterConfig {
  const [ns = 'default', rest = name] = name.split('/');
  const [service = rest, port = 'http'] = rest.split(':');
  return { name, namespace: ns, service, port, protocol, loadBalancer, connectTimeoutMs: 1_000, endpoints };
}

export function endpoint(port: number, identity: string, replica = 0): EndpointConfig {
  return { host: '127.0.0.1', port, identity, workload: 'w', replica };
}

export function snapshot(version: number, pki: TestPki, clusters: ClusterConfig[]): ProxySnapshot {
  return { version, trustDomain: pki.ca.trustDomain, trustBundlePem: pki.ca.trustBundlePem(), clusters };
}

export async function runtime(pki: TestPki, boot: ProxyBootstrap, extra: Partial<RuntimeDeps> = {}): Promise<ProxyRuntime> {
  const credentials = extra.credentials ?? (await pki.credentials(boot.node.identity));
  return new ProxyRuntime(boot, { logger: silentLogger(), ...extra, credentials });
}

export function portOf(rt: ProxyRuntime, name: string, direction: 'inbound' | 'outbound'): number {
  const l = rt.listener(name, direction);
  if (l === undefined) throw new Error(`no ${direction} listener ${name}`);
  return l.port;
}
