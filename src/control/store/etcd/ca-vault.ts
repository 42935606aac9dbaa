import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrellisError } from '../../../errors.js';
import { CertificateAuthority } from '../../../identity/ca.js';
import { deriveKey, seal, unseal } from '../../../identity/seal.js';
import type { EtcdStore } from './etcd-store.js';

/**
 * Where the replicas get the one mesh CA they share:
 * - `sealed`: the CA lives in etcd, its key encrypted (AES-256-GCM) with a key derived from
 *   the operator's seal key file; the first replica creates it, the others open it.
 * - `dir`: every replica loads it from the same files (`root.key`, `root.crt`, copied by the
 *   operator); etcd keeps only the certificate, so a replica with another CA is refused.
 */
export type CaSource = { kind: 'sealed'; sealKey: Buffer } | { kind: 'dir'; dir: string };

/** What etcd holds at `<prefix>ca/root`. */
interface CaRecord {
  trustDomain: string;
  certPem: string;
  /** seal(key derived from the seal key file, root key PEM, context) — absent for a `dir` CA. */
  sealedKey?: string;
}

export interface SharedCa {
  ca: CertificateAuthority;
  /** Key for other shared secrets (the agent token), derived from the same source as the CA's protection. */
  secretsKey: Buffer;
}

/** The associated data of the sealed CA key: it opens only for this trust domain and this certificate. */
function caContext(trustDomain: string, certPem: string): string {
  return `trellis/ca-key/${trustDomain}/${createHash('sha256').update(certPem).digest('hex')}`;
}

/** Loads the CA every replica shares, creating it (sealed) on the first start. */
export async function loadOrCreateSharedCa(store: EtcdStore, source: CaSource, trustDomain: string, clock: () => number): Promise<SharedCa> {
  const key = store.keys.ca;
  const existing = await readRecord(store, key);
  if (source.kind === 'dir') {
    const ca = await CertificateAuthority.loadOrCreate(source.dir, trustDomain, clock);
    const certPem = ca.trustBundlePem()[0] as string;
    const keyPem = await readFile(join(source.dir, 'root.key'), 'utf8');
    const record = existing ?? (await createRecord(store, key, { trustDomain, certPem }));
    if (record.certPem.trim() !== certPem.trim()) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `the CA in ${source.dir} is not the one the other replicas use (etcd ${key}): every replica needs the same root.key and root.crt`);
    }
    return { ca, secretsKey: deriveKey(keyPem, 'shared secrets') };
  }

  const caKey = deriveKey(source.sealKey, 'ca key');
  const secretsKey = deriveKey(source.sealKey, 'shared secrets');
  if (existing !== null) return { ca: await openRecord(existing, caKey, trustDomain, clock, key), secretsKey };
  const made = await CertificateAuthority.generate(trustDomain, clock);
  const mine: CaRecord = { trustDomain, certPem: made.certPem, sealedKey: seal(caKey, Buffer.from(made.keyPem), caContext(trustDomain, made.certPem)) };
  const stored = await createRecord(store, key, mine);
  // Two replicas starting on an empty etcd: the one whose record landed wins; the other opens it.
  if (stored.certPem === made.certPem) return { ca: made.ca, secretsKey };
  return { ca: await openRecord(stored, caKey, trustDomain, clock, key), secretsKey };
}

async function openRecord(record: CaRecord, caKey: Buffer, trustDomain: string, clock: () => number, key: string): Promise<CertificateAuthority> {
  if (record.trustDomain !== trustDomain) {
    throw new TrellisError('TRELLIS_E_IDENTITY', `the CA in etcd (${key}) belongs to trust domain "${record.trustDomain}", not "${trustDomain}"`);
  }
  if (record.sealedKey === undefined) {
    throw new TrellisError('TRELLIS_E_IDENTITY', `the CA in etcd (${key}) is kept in files by the other replicas: start this one with --ca-dir too`);
  }
  let keyPem: Buffer;
  try {
    keyPem = unseal(caKey, record.sealedKey, caContext(record.trustDomain, record.certPem));
  } catch (err) {
    throw new TrellisError('TRELLIS_E_IDENTITY', `the CA key in etcd (${key}) does not open with this seal key file: every replica needs the same one`, { cause: err });
  }
  return CertificateAuthority.fromPem(keyPem.toString('utf8'), record.certPem, trustDomain, clock, `etcd ${key}`);
}

async function readRecord(store: EtcdStore, key: string): Promise<CaRecord | null> {
  const text = await store.client.get(key).string();
  return text === null ? null : parseRecord(text, key);
}

/** Stores `record` unless a record is there already; resolves to whichever is stored. */
async function createRecord(store: EtcdStore, key: string, record: CaRecord): Promise<CaRecord> {
  const res = await store.client.if(key, 'Create', '==', 0).then(store.client.put(key).value(JSON.stringify(record))).else(store.client.get(key)).commit();
  if (res.succeeded) return record;
  const kv = res.responses[0]?.response_range.kvs[0];
  if (kv === undefined) throw new TrellisError('TRELLIS_E_STORE', `etcd: ${key} was neither created nor readable`);
  return parseRecord(kv.value.toString('utf8'), key);
}

function parseRecord(text: string, key: string): CaRecord {
  try {
    const r = JSON.parse(text) as CaRecord;
    if (typeof r.trustDomain === 'string' && typeof r.certPem === 'string') return r;
  } catch {
    /* reported below */
  }
  throw new TrellisError('TRELLIS_E_IDENTITY', `etcd ${key} does not hold a CA record`);
}

/**
 * A secret every replica shares (the agent token), sealed in etcd under `<prefix>secrets/<name>`;
 * the first replica makes it with `make()`.
 */
export async function loadOrCreateSharedSecret(store: EtcdStore, name: string, key: Buffer, make: () => string): Promise<string> {
  const at = store.keys.secret(name);
  const context = `trellis/secret/${name}`;
  const sealed = seal(key, Buffer.from(make()), context);
  const res = await store.client.if(at, 'Create', '==', 0).then(store.client.put(at).value(sealed)).else(store.client.get(at)).commit();
  const stored = res.succeeded ? sealed : (res.responses[0]?.response_range.kvs[0]?.value.toString('utf8') ?? '');
  try {
    return unseal(key, stored, context).toString('utf8');
  } catch (err) {
    throw new TrellisError('TRELLIS_E_IDENTITY', `the shared ${name} in etcd (${at}) does not open with this replica's key: every replica needs the same seal key file (or CA files)`, { cause: err });
  }
}
