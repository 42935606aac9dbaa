import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseSubjectAltNames } from './spiffe.js';

/**
 * A web-PKI server certificate and its key, from PEM files an operator provides (the ingress's
 * TLS). One checker for the mesh-file validation (`trellis up`) and for the proxy's reloads, so
 * the two can never disagree about what a good pair is.
 */
export interface ServerPair {
  /** The files' text as read: the chain (leaf first) and the key. */
  certPem: string;
  keyPem: string;
  /** DNS names of the leaf's subjectAltName (lower-case; wildcards kept as `*.example.com`). */
  dnsNames: string[];
  notBefore: Date;
  notAfter: Date;
}

/** What is wrong with a pair, and which of its two files is at fault. */
export interface PairProblem {
  which: 'cert' | 'key';
  file: string;
  message: string;
}

export type PairResult = { ok: true; pair: ServerPair } | { ok: false; problem: PairProblem };

/** Reads both files and checks them (sync: small files, read at start, in validation, or on a reload). */
export function readServerPair(certFile: string, keyFile: string, nowMs: number): PairResult {
  const cert = readText(certFile);
  if (typeof cert !== 'string') return { ok: false, problem: { which: 'cert', file: certFile, message: cert.message } };
  const key = readText(keyFile);
  if (typeof key !== 'string') return { ok: false, problem: { which: 'key', file: keyFile, message: key.message } };
  return checkServerPair(cert, key, certFile, keyFile, nowMs);
}

/**
 * Checks a pair: the certificate parses (the first PEM block is the leaf), the key parses and
 * is unencrypted, the key belongs to the certificate, and the certificate is valid at `nowMs`.
 * An expired (or not yet valid) certificate is refused rather than served: every client would
 * refuse it anyway, and a refusal at `trellis up` or on a reload names the file.
 */
export function checkServerPair(certPem: string, keyPem: string, certFile: string, keyFile: string, nowMs: number): PairResult {
  const bad = (which: 'cert' | 'key', message: string): PairResult => ({ ok: false, problem: { which, file: which === 'cert' ? certFile : keyFile, message } });
  // The leaf is the first block; intermediates may follow it (OpenSSL sends the whole chain).
  const first = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/.exec(certPem);
  if (first === null) return bad('cert', 'no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) in the file');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(first[0]);
  } catch (err) {
    return bad('cert', `not a readable PEM certificate (${(err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (err) {
    const msg = (err as Error).message;
    return bad('key', /passphrase/i.test(msg) ? 'the key is encrypted; give an unencrypted PEM key (protect it with file permissions)' : `not a readable PEM private key (${msg})`);
  }
  if (!leaf.checkPrivateKey(key)) return bad('key', `the key does not match the certificate in ${certFile}`);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (nowMs > notAfter.getTime()) return bad('cert', `the certificate expired at ${notAfter.toISOString()}`);
  if (nowMs < notBefore.getTime()) return bad('cert', `the certificate is not valid before ${notBefore.toISOString()}`);
  const dnsNames = parseSubjectAltNames(leaf.subjectAltName ?? '')
    .filter(([t]) => t === 'DNS')
    .map(([, v]) => v.toLowerCase());
  return { ok: true, pair: { certPem, keyPem, dnsNames, notBefore, notAfter } };
}

function readText(file: string): string | Error {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return new Error('no such file');
    if (code === 'EACCES') return new Error('permission denied (the process that runs the ingress must be able to read it)');
    if (code === 'EISDIR') return new Error('is a directory, not a PEM file');
    return new Error((err as Error).message);
  }
}
