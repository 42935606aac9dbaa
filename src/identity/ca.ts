import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { TrellisError } from '../errors.js';
import type { CryptoKey, X509Module } from './crypto-provider.js';
import {
  ECDSA_SHA256,
  generateP256,
  importP256PrivateKey,
  privateKeyToPem,
  loadX509,
} from './crypto-provider.js';
import { agentSpiffeId, parseSpiffeId, parseSpiffeUri, trustDomainId, isValidTrustDomain } from './spiffe.js';

const ROOT_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
/**
 * Leaf certificates start a minute in the past so peers with a slightly slow clock accept them
 * at once. SPIRE backdates 10 s, Istio 2 min; a minute covers hosts whose NTP has drifted or a
 * VM just resumed, and costs nothing: a certificate cannot be used before it was issued.
 */
export const CLOCK_SKEW_MS = 60_000;

/**
 * The validity of a certificate issued at `now` for `ttlMs`. X.509 times have one-second
 * resolution (RFC 5280 forbids fractions and the encoder truncates), so notAfter is rounded
 * UP to the next whole second: a certificate is valid for at least its whole TTL (a 1 s TTL
 * issued at x.85 s used to end at x+1.00 s, 0.15 s later). notBefore is backdated by
 * CLOCK_SKEW_MS and rounded down.
 */
export function leafValidity(now: number, ttlMs: number): { notBefore: Date; notAfter: Date } {
  return {
    notBefore: new Date(Math.floor((now - CLOCK_SKEW_MS) / 1000) * 1000),
    notAfter: new Date(Math.ceil((now + ttlMs) / 1000) * 1000),
  };
}

export interface IssuedCertificate {
  certChainPem: string[];
  notAfter: Date;
  serial: string;
}

/** A positive random 128-bit serial (hex), as RFC 5280 asks (at most 20 octets, non-negative). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 1) & 0x7f) | 0x01;
  return b.toString('hex');
}

/**
 * The mesh's certificate authority: one self-signed P-256 root per trust domain that signs
 * every workload certificate directly (no intermediates today). The root key lives in
 * `<dir>/root.key` (0600, dir 0700); the root certificate carries the trust domain's SPIFFE
 * ID `spiffe://<td>` as its URI SAN, which is how a reload recognises its trust domain.
 */
export class CertificateAuthority {
  private constructor(
    readonly trustDomain: string,
    private readonly rootKey: CryptoKey,
    private readonly rootCertPem: string,
    private readonly rootSubject: string,
    private readonly clock: () => number,
  ) {}

  static async loadOrCreate(dir: string, trustDomain: string, clock: () => number = Date.now): Promise<CertificateAuthority> {
    checkTrustDomain(trustDomain);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const keyPath = join(dir, 'root.key');
    const certPath = join(dir, 'root.crt');
    let keyPem: string | null = null;
    let certPem: string | null = null;
    try {
      keyPem = await readFile(keyPath, 'utf8');
      certPem = await readFile(certPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (keyPem !== null) {
        throw new TrellisError('TRELLIS_E_IDENTITY', `CA key ${keyPath} exists but ${certPath} is missing; refusing to replace the root`);
      }
    }
    if (keyPem !== null && certPem !== null) return CertificateAuthority.fromPem(keyPem, certPem, trustDomain, clock, dir);

    // First start: a new root. Key first, created with 0600 (never world-readable, not even
    // briefly), then the cert.
    const made = await CertificateAuthority.generate(trustDomain, clock);
    await writeAtomic(keyPath, made.keyPem, 0o600);
    await writeAtomic(certPath, made.certPem, 0o644);
    return made.ca;
  }

  /**
   * A CA from its PEM key and certificate, wherever they were kept (files, or sealed in etcd:
   * src/control/store/etcd/ca-vault.ts). The certificate's URI SAN must name `trustDomain`;
   * `where` names the source in errors.
   */
  static async fromPem(keyPem: string, certPem: string, trustDomain: string, clock: () => number = Date.now, where = 'the CA'): Promise<CertificateAuthority> {
    checkTrustDomain(trustDomain);
    const x509 = await loadX509();
    let cert: InstanceType<X509Module['X509Certificate']>;
    let key: CryptoKey;
    try {
      cert = new x509.X509Certificate(certPem);
      key = await importP256PrivateKey(keyPem);
    } catch (err) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `cannot read the CA in ${where}: ${(err as Error).message}`, { cause: err });
    }
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const uri = san?.names.items.find((n) => n.type === 'url')?.value;
    const td = uri !== undefined ? parseSpiffeUri(uri)?.trustDomain : undefined;
    if (td !== trustDomain) {
      throw new TrellisError(
        'TRELLIS_E_IDENTITY',
        `the CA in ${where} belongs to trust domain "${td ?? 'unknown'}", not "${trustDomain}"; use another state directory or the same trust domain`,
      );
    }
    return new CertificateAuthority(trustDomain, key, cert.toString('pem'), cert.subject, clock);
  }

  /** A new self-signed root for `trustDomain`, with its key and certificate as PEM for the caller to keep. */
  static async generate(trustDomain: string, clock: () => number = Date.now): Promise<{ ca: CertificateAuthority; keyPem: string; certPem: string }> {
    checkTrustDomain(trustDomain);
    const x509 = await loadX509();
    const keys = await generateP256();
    const now = clock();
    const subject = `CN=Trellis root CA ${trustDomain}, O=Trellis`;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: subject,
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + ROOT_LIFETIME_MS),
      keys,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain) }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        new x509.Extension(NAME_CONSTRAINTS_OID, true, uriNameConstraint(trustDomain)),
      ],
    });
    const keyPem = await privateKeyToPem(keys.privateKey);
    const certPem = cert.toString('pem');
    const key = await importP256PrivateKey(keyPem);
    return { ca: new CertificateAuthority(trustDomain, key, certPem, cert.subject, clock), keyPem, certPem };
  }

  /** PEM roots peers' chains must end in. */
  trustBundlePem(): string[] {
    return [this.rootCertPem];
  }

  /**
   * Signs a workload certificate for `identity` with the CSR's public key. Everything else
   * the CSR asks for (subject, SANs, extensions) is ignored: the caller has already decided
   * which identity this requester may hold.
   */
  async signCsr(csrPem: string, identity: string, ttlMs: number): Promise<IssuedCertificate> {
    this.checkIdentity(identity);
    const parts = parseSpiffeId(identity) as NonNullable<ReturnType<typeof parseSpiffeId>>;
    const publicKey = await verifiedCsrKey(csrPem);
    return this.issueLeaf(publicKey, identity, `CN=${parts.serviceAccount}, OU=${parts.namespace}, O=${parts.trustDomain}`, [], [], ttlMs);
  }

  /**
   * Signs a host agent's certificate, `spiffe://<td>/agent/<host>` (its only SAN), with the CSR's
   * key; as for signCsr, nothing else the CSR asks for is used. The caller has checked that the
   * requester may act for that host (a join token, or its current certificate).
   */
  async signAgentCsr(csrPem: string, host: string, ttlMs: number): Promise<IssuedCertificate & { identity: string }> {
    let identity: string;
    try {
      identity = agentSpiffeId(this.trustDomain, host);
    } catch (err) {
      throw new TrellisError('TRELLIS_E_IDENTITY', (err as Error).message);
    }
    const publicKey = await verifiedCsrKey(csrPem);
    return { ...(await this.issueLeaf(publicKey, identity, `CN=${host}, OU=agents, O=${this.trustDomain}`, [], [], ttlMs)), identity };
  }

  /** Key and certificate for a server of the mesh itself (the control plane's push listener). */
  async issueServerCertificate(
    identity: string,
    dnsNames: string[],
    ips: string[],
    ttlMs: number,
  ): Promise<{ keyPem: string; certChainPem: string[]; notAfter: Date }> {
    this.checkIdentity(identity);
    for (const ip of ips) if (isIP(ip) === 0) throw new TrellisError('TRELLIS_E_IDENTITY', `not an IP address: "${ip}"`);
    const keys = await generateP256();
    const parts = parseSpiffeId(identity) as NonNullable<ReturnType<typeof parseSpiffeId>>;
    const issued = await this.issueLeaf(keys.publicKey, identity, `CN=${parts.serviceAccount}, OU=${parts.namespace}, O=${parts.trustDomain}`, dnsNames, ips, ttlMs);
    return { keyPem: await privateKeyToPem(keys.privateKey), certChainPem: issued.certChainPem, notAfter: issued.notAfter };
  }

  private checkIdentity(identity: string): void {
    const p = parseSpiffeId(identity);
    if (p === null) throw new TrellisError('TRELLIS_E_IDENTITY', `not a workload SPIFFE ID: "${identity}"`);
    if (p.trustDomain !== this.trustDomain) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `identity ${identity} is outside trust domain "${this.trustDomain}"`);
    }
  }

  private async issueLeaf(
    publicKey: CryptoKey | InstanceType<X509Module['PublicKey']>,
    identity: string,
    subject: string,
    dnsNames: string[],
    ips: string[],
    ttlMs: number,
  ): Promise<IssuedCertificate> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TrellisError('TRELLIS_E_IDENTITY', `certificate TTL must be positive, got ${ttlMs}`);
    const x509 = await loadX509();
    const { notBefore, notAfter } = leafValidity(this.clock(), ttlMs);
    const serial = randomSerial();
    const root = new x509.X509Certificate(this.rootCertPem);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject,
      issuer: this.rootSubject,
      notBefore,
      notAfter,
      publicKey,
      signingKey: this.rootKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: identity },
          ...dnsNames.map((d) => ({ type: 'dns' as const, value: d })),
          ...ips.map((ip) => ({ type: 'ip' as const, value: ip })),
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(root.publicKey),
      ],
    });
    return { certChainPem: [cert.toString('pem')], notAfter, serial };
  }
}

/** The CSR's public key once its signature verifies and it is ECDSA P-256; TRELLIS_E_IDENTITY otherwise. */
async function verifiedCsrKey(csrPem: string): Promise<InstanceType<X509Module['PublicKey']>> {
  const x509 = await loadX509();
  let csr: InstanceType<X509Module['Pkcs10CertificateRequest']>;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new TrellisError('TRELLIS_E_IDENTITY', `malformed CSR: ${(err as Error).message}`, { cause: err });
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw new TrellisError('TRELLIS_E_IDENTITY', 'CSR signature does not verify');
  const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new TrellisError('TRELLIS_E_IDENTITY', `CSR key must be ECDSA P-256, got ${alg.name} ${alg.namedCurve ?? ''}`.trim());
  }
  return csr.publicKey;
}

const NAME_CONSTRAINTS_OID = '2.5.29.30';

function checkTrustDomain(trustDomain: string): void {
  if (!isValidTrustDomain(trustDomain)) {
    throw new TrellisError('TRELLIS_E_IDENTITY', `invalid trust domain "${trustDomain}" (lower-case letters, digits, '.', '-', '_')`);
  }
}

/** DER TLV with a definite length (short or long form). */
function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Uint8Array.from([tag, ...len, ...content]);
}

/**
 * NameConstraints (RFC 5280 4.2.1.10) permitting only URIs whose host is the trust domain,
 * so even a mis-issued leaf for another trust domain fails path validation. Encoded by hand:
 * @peculiar/x509 has no builder for it and the structure is four nested TLVs.
 *   SEQUENCE { [0] { SEQUENCE { [6] IA5String "<td>" } } }
 */
function uriNameConstraint(trustDomain: string): Uint8Array {
  const base = tlv(0x86, new TextEncoder().encode(trustDomain));
  return tlv(0x30, tlv(0xa0, tlv(0x30, base)));
}

/** Write to a temp file created with `mode`, then rename over the target. */
export async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await rename(tmp, path);
}
