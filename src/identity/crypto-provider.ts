import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type X509Module = typeof X509;

let loaded: Promise<X509Module> | null = null;

/**
 * @peculiar/x509 on Node's WebCrypto, loaded on first use (never at import time).
 * Its dependency injection (tsyringe) needs the Reflect metadata polyfill, loaded first.
 */
export function loadX509(): Promise<X509Module> {
  loaded ??= (async () => {
    await import('reflect-metadata');
    const x509 = (await import('@peculiar/x509')) as X509Module;
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return loaded;
}

export const P256: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const ECDSA_SHA256: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export async function generateP256(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function pem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

function derOf(pemText: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pemText);
  if (m === null) throw new Error(`no ${label} PEM block`);
  return Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64');
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  return pem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function importP256PrivateKey(pemText: string): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', derOf(pemText, 'PRIVATE KEY'), P256, false, ['sign']);
}
