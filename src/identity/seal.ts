import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { TrellisError } from '../errors.js';

/** AES-256-GCM: a 32-byte key, a fresh 12-byte IV per seal, a 16-byte tag. */
export const SEAL_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/**
 * Reads the key an operator gives each control-plane replica to seal the CA key in etcd.
 * The file must be readable by its owner only (mode 0600 or 0400: no group or other bits,
 * as ssh insists for private keys) and hold 32 random bytes, raw or as base64 or hex text
 * (`openssl rand -base64 32 > ca-seal.key`).
 */
export async function readSealKey(path: string): Promise<Buffer> {
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (err) {
    throw new TrellisError('TRELLIS_E_USAGE', `seal key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new TrellisError('TRELLIS_E_USAGE', `seal key file ${path} has mode 0${mode.toString(8)}: it must be readable by its owner only (chmod 600 ${path})`);
  }
  const raw = await readFile(path);
  if (raw.length === SEAL_KEY_BYTES) return raw;
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const b = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === SEAL_KEY_BYTES) return b;
  }
  throw new TrellisError('TRELLIS_E_USAGE', `seal key file ${path} must hold ${SEAL_KEY_BYTES} random bytes (raw, base64 or hex), e.g. from \`openssl rand -base64 32\``);
}

/**
 * Encrypts and authenticates `plaintext` under `key`. `context` is bound in as associated
 * data: a sealed value moved to another place (another trust domain, another certificate)
 * no longer opens. Result: `v1.<base64 iv|tag|ciphertext>`.
 */
export function seal(key: Buffer, plaintext: Buffer, context: string): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(context));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return `${VERSION}.${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}

/** Opens what seal() made; a wrong key, another context or changed bytes are refused. */
export function unseal(key: Buffer, sealed: string, context: string): Buffer {
  checkKey(key);
  const [v, b64] = sealed.split('.', 2);
  const raw = Buffer.from(b64 ?? '', 'base64');
  if (v !== VERSION || raw.length < IV_BYTES + TAG_BYTES) throw new TrellisError('TRELLIS_E_IDENTITY', 'sealed value: unknown format');
  try {
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([d.update(raw.subarray(IV_BYTES + TAG_BYTES)), d.final()]);
  } catch (err) {
    throw new TrellisError('TRELLIS_E_IDENTITY', 'sealed value does not open with this key (another key file, or the value was changed)', { cause: err });
  }
}

/** A sub-key for one purpose (HKDF-SHA256), so one operator key never encrypts two kinds of data. */
export function deriveKey(key: Buffer | string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `trellis ${purpose}`, SEAL_KEY_BYTES));
}

function checkKey(key: Buffer): void {
  if (key.length !== SEAL_KEY_BYTES) throw new TrellisError('TRELLIS_E_IDENTITY', `seal key must be ${SEAL_KEY_BYTES} bytes, got ${key.length}`);
}
