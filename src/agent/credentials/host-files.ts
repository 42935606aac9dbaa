import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../../identity/ca.js';
import { TrellisError } from '../../errors.js';

/**
 * A joined host's credential on disk, in `<stateDir>/host/` (0700): `host.json` (who it is,
 * where the control plane is), `agent.key` (0600: generated here, never sent anywhere),
 * `agent.crt` (its certificate chain) and `ca.crt` (the trust bundle it verifies the control
 * plane with). Written whole on join and on every renewal.
 */
export interface HostFiles {
  host: string;
  trustDomain: string;
  apiUrls: string[];
  caFingerprint: string;
  joinedAt: string;
  keyPem: string;
  certChainPem: string[];
  trustBundlePem: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function hostDir(stateDir: string): string {
  return join(stateDir, 'host');
}

export async function writeHostFiles(stateDir: string, f: HostFiles): Promise<void> {
  const dir = hostDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The key first, created 0600; host.json last: its presence means a complete set.
  await writeAtomic(join(dir, 'agent.key'), f.keyPem, 0o600);
  await writeAtomic(join(dir, 'agent.crt'), f.certChainPem.join('\n'), 0o644);
  await writeAtomic(join(dir, 'ca.crt'), f.trustBundlePem.join('\n'), 0o644);
  const meta = { host: f.host, trustDomain: f.trustDomain, apiUrls: f.apiUrls, caFingerprint: f.caFingerprint, joinedAt: f.joinedAt };
  await writeAtomic(join(dir, 'host.json'), `${JSON.stringify(meta, null, 2)}\n`, 0o600);
}

/** The saved credential, or null when this state directory never joined. */
export async function readHostFiles(stateDir: string): Promise<HostFiles | null> {
  const dir = hostDir(stateDir);
  let meta: Partial<HostFiles>;
  try {
    meta = JSON.parse(await readFile(join(dir, 'host.json'), 'utf8')) as Partial<HostFiles>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TrellisError('TRELLIS_E_CONFIG', `cannot read ${join(dir, 'host.json')}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof meta.host !== 'string' || typeof meta.trustDomain !== 'string' || !Array.isArray(meta.apiUrls) || typeof meta.caFingerprint !== 'string') {
    throw new TrellisError('TRELLIS_E_CONFIG', `${join(dir, 'host.json')} is damaged; remove ${dir} and join again with a new token`);
  }
  try {
    const keyPem = await readFile(join(dir, 'agent.key'), 'utf8');
    const certChainPem = (await readFile(join(dir, 'agent.crt'), 'utf8')).match(PEM_CERT) ?? [];
    const trustBundlePem = (await readFile(join(dir, 'ca.crt'), 'utf8')).match(PEM_CERT) ?? [];
    if (certChainPem.length === 0 || trustBundlePem.length === 0) throw new Error('no certificate in agent.crt or ca.crt');
    return { host: meta.host, trustDomain: meta.trustDomain, apiUrls: meta.apiUrls, caFingerprint: meta.caFingerprint, joinedAt: meta.joinedAt ?? '', keyPem, certChainPem, trustBundlePem };
  } catch (err) {
    throw new TrellisError('TRELLIS_E_CONFIG', `the host credential in ${dir} is incomplete (${(err as Error).message}); remove ${dir} and join again with a new token`, { cause: err });
  }
}
