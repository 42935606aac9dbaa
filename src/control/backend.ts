import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TrellisError } from '../errors.js';
import { CertificateAuthority, writeAtomic } from '../identity/ca.js';
import { readSealKey } from '../identity/seal.js';
import { loadOrCreateToken } from './state-files.js';
import { loadOrCreateSharedCa, loadOrCreateSharedSecret, type CaSource } from './store/etcd/ca-vault.js';
import { EtcdStore } from './store/etcd/etcd-store.js';
import { parseEtcdUrl } from './store/etcd/store-url.js';
import { FileStore } from './store/file-store.js';
import type { Store } from './store/store.js';

/** `--store etcd://...` and where the replicas' shared CA comes from (exactly one of the two). */
export interface EtcdSettings {
  /** etcd://host:2379[,host:2379...][/prefix] */
  url: string;
  /** File (0600) with the key that seals the CA key in etcd (`--ca-seal-key-file`). */
  caSealKeyFile?: string;
  /** Folder with root.key and root.crt that every replica has a copy of (`--ca-dir`). */
  caDir?: string;
}

/** What the control plane keeps its state in, and the CA and agent token that go with it. */
export interface Backend {
  store: Store;
  ca: CertificateAuthority;
  agentToken: string;
}

/**
 * The file store (default, `trellis up`): CA files, agent token and JSON store in the state
 * directory. The etcd store: everything in etcd, the CA sealed there (or loaded from shared
 * files), and the agent token shared by every replica (sealed too); the token is also written
 * to `<stateDir>/agent-token` for agents on this host.
 */
export async function openBackend(o: { stateDir: string; trustDomain: string; etcd?: EtcdSettings; logger: Logger }, clock: () => number): Promise<Backend> {
  const tokenFile = join(o.stateDir, 'agent-token');
  if (o.etcd === undefined) {
    const ca = await CertificateAuthority.loadOrCreate(join(o.stateDir, 'ca'), o.trustDomain, clock);
    const agentToken = await loadOrCreateToken(tokenFile);
    return { store: await FileStore.open(join(o.stateDir, 'store')), ca, agentToken };
  }
  const e = o.etcd;
  const target = parseEtcdUrl(e.url);
  if ((e.caSealKeyFile === undefined) === (e.caDir === undefined)) {
    throw new TrellisError('TRELLIS_E_USAGE', '--store etcd:// needs exactly one of --ca-seal-key-file FILE (the CA key sealed in etcd) or --ca-dir DIR (the CA in files every replica has)');
  }
  // The key file is checked before connecting: a wrong mode fails fast, with nothing written.
  const source: CaSource = e.caSealKeyFile !== undefined ? { kind: 'sealed', sealKey: await readSealKey(e.caSealKeyFile) } : { kind: 'dir', dir: e.caDir as string };
  const store = await EtcdStore.open({
    ...target,
    log: (msg, err) => o.logger.warn({ err: err?.message }, msg),
  });
  try {
    const shared = await loadOrCreateSharedCa(store, source, o.trustDomain, clock);
    const agentToken = await loadOrCreateSharedSecret(store, 'agent-token', shared.secretsKey, () => randomBytes(32).toString('hex'));
    await writeAtomic(tokenFile, `${agentToken}\n`, 0o600);
    // The CA certificate (public) where this host's CLI and agents look for it to verify an
    // https control plane, as the file store keeps it (the key stays sealed in etcd).
    await mkdir(join(o.stateDir, 'ca'), { recursive: true, mode: 0o700 });
    await writeAtomic(join(o.stateDir, 'ca', 'root.crt'), shared.ca.trustBundlePem().join(''), 0o644);
    return { store, ca: shared.ca, agentToken };
  } catch (err) {
    await store.close();
    throw err;
  }
}
