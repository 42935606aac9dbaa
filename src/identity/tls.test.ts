import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect, createServer } from 'node:tls';
import type { ConnectionOptions, Server } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { CertificateAuthority } from './ca.js';
import { ECDSA_SHA256, generateP256, importP256PrivateKey, loadX509, privateKeyToPem } from './crypto-provider.js';
import { generateKeyAndCsr } from './keys.js';
import { isInTrustDomain } from './spiffe.js';
import { clientTlsOptions, serverTlsOptions, verifyPeer } from './tls.js';
import type { TlsCredentials } from './tls.js';

const TD = 'td.test';
const SERVER_ID = 'spiffe://td.test/ns/default/sa/backend';
const CLIENT_ID = 'spiffe://td.test/ns/default/sa/frontend';
const HOUR = 3600_000;

let dir = '';
let ca: CertificateAuthority;
let foreignCa: CertificateAuthority;
let server: Server;
let port = 0;
const accepted: string[] = [];

async function creds(authority: CertificateAuthority, id: string, ttl = HOUR): Promise<TlsCredentials> {
  const { keyPem, csrPem } = await generateKeyAndCsr(id);
  const issued = await authority.signCsr(csrPem, id, ttl);
  return { keyPem, certChainPem: issued.certChainPem };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-tls-'));
  ca = await CertificateAuthority.loadOrCreate(join(dir, 'ca'), TD);
  // Same trust domain name, different root: a chain from it must not verify.
  foreignCa = await CertificateAuthority.loadOrCreate(join(dir, 'foreign'), TD);
  server = createServer(serverTlsOptions(await creds(ca, SERVER_ID), ca.trustBundlePem(), ['trellis-tcp']), (socket) => {
    const id = verifyPeer(socket, (peer) => isInTrustDomain(peer, TD));
    if (id === null) {
      socket.destroy();
      return;
    }
    accepted.push(id);
    socket.end(`ok ${id}\n`);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

/** Connects, collects what the server says until the socket closes; an error is a result too. */
function attempt(options: ConnectionOptions): Promise<{ data: string; error: string | null }> {
  return new Promise((resolve) => {
    let data = '';
    let error: string | null = null;
    const socket = tlsConnect({ host: '127.0.0.1', port, ...options });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', (err) => (error = (err as NodeJS.ErrnoException).code ?? err.message));
    socket.on('close', () => resolve({ data, error }));
  });
}

test('the right client certificate and expected ID: accepted, verifyPeer returns the client ID', async () => {
  const r = await attempt(clientTlsOptions(await creds(ca, CLIENT_ID), ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']));
  assert.equal(r.error, null);
  assert.equal(r.data, `ok ${CLIENT_ID}\n`);
  assert.ok(accepted.includes(CLIENT_ID));
});

test('plain TCP is refused', async () => {
  const r = await new Promise<string>((resolve) => {
    let data = '';
    const s = netConnect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(data));
  });
  assert.doesNotMatch(r, /^ok/);
});

test('TLS without a client certificate is refused', async () => {
  const acceptedBefore = accepted.length;
  const r = await attempt(clientTlsOptions(null, ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']));
  assert.equal(r.data, '');
  assert.equal(accepted.length, acceptedBefore);
});

test('a client certificate from another CA is refused', async () => {
  const acceptedBefore = accepted.length;
  const r = await attempt(clientTlsOptions(await creds(foreignCa, CLIENT_ID), ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']));
  assert.equal(r.data, '');
  assert.equal(accepted.length, acceptedBefore);
});

test('an expired and a not-yet-valid client certificate are refused', async () => {
  const acceptedBefore = accepted.length;
  const expiredCa = await CertificateAuthority.loadOrCreate(join(dir, 'ca'), TD, () => Date.now() - 2 * HOUR);
  const expired = await attempt(clientTlsOptions(await creds(expiredCa, CLIENT_ID), ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']));
  assert.equal(expired.data, '');
  const futureCa = await CertificateAuthority.loadOrCreate(join(dir, 'ca'), TD, () => Date.now() + 2 * HOUR);
  const future = await attempt(clientTlsOptions(await creds(futureCa, CLIENT_ID), ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']));
  assert.equal(future.data, '');
  assert.equal(accepted.length, acceptedBefore);
});

test('the right CA but the wrong expected server ID: the client refuses', async () => {
  const r = await attempt(
    clientTlsOptions(await creds(ca, CLIENT_ID), ca.trustBundlePem(), 'spiffe://td.test/ns/default/sa/payments', ['trellis-tcp']),
  );
  assert.equal(r.error, 'ERR_TRELLIS_PEER_IDENTITY');
  assert.equal(r.data, '');
});

test('a server from another CA is refused by the client', async () => {
  const other = createServer(serverTlsOptions(await creds(foreignCa, SERVER_ID), foreignCa.trustBundlePem(), ['trellis-tcp']), (s) =>
    s.end('ok\n'),
  );
  other.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const r = await attempt({
      ...clientTlsOptions(await creds(ca, CLIENT_ID), ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']),
      port: (other.address() as AddressInfo).port,
    });
    assert.equal(r.data, '');
    assert.notEqual(r.error, null);
  } finally {
    await new Promise<void>((resolve) => other.close(() => resolve()));
  }
});

test('a certificate for another trust domain signed by our root is refused (name constraints)', async () => {
  const x509 = await loadX509();
  const rootKey = await importP256PrivateKey(await readFile(join(dir, 'ca', 'root.key'), 'utf8'));
  const root = new x509.X509Certificate(ca.trustBundlePem()[0] as string);
  const keys = await generateP256();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '0badc0de',
    subject: 'CN=evil',
    issuer: root.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + HOUR),
    publicKey: keys.publicKey,
    signingKey: rootKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://evil.test/ns/default/sa/frontend' }]),
    ],
  });
  const evil = { keyPem: await privateKeyToPem(keys.privateKey), certChainPem: [leaf.toString('pem')] };
  // A server that accepts any verified ID: only path validation (the constraint) can refuse.
  const lax = createServer(serverTlsOptions(await creds(ca, SERVER_ID), ca.trustBundlePem(), ['trellis-tcp']), (socket) => {
    const id = verifyPeer(socket, () => true);
    if (id === null) socket.destroy();
    else socket.end(`ok ${id}\n`);
  });
  lax.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => lax.listen(0, '127.0.0.1', resolve));
  try {
    const laxPort = (lax.address() as AddressInfo).port;
    const good = await attempt({ ...clientTlsOptions(await creds(ca, CLIENT_ID), ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']), port: laxPort });
    assert.equal(good.data, `ok ${CLIENT_ID}\n`);
    const r = await attempt({ ...clientTlsOptions(evil, ca.trustBundlePem(), SERVER_ID, ['trellis-tcp']), port: laxPort });
    assert.equal(r.data, '');
  } finally {
    await new Promise<void>((resolve) => lax.close(() => resolve()));
  }
});
