import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJoinToken } from '../../api/credentials.js';
import { CertificateAuthority } from '../../identity/ca.js';
import { caFingerprint } from '../../identity/fingerprint.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { TrellisError } from '../../errors.js';
import { HttpError } from '../api/http-error.js';
import { FileStore } from '../store/file-store.js';
import { tempDir } from '../test-support.js';
import { Enrolment, SPENT_TOKEN_RETENTION_MS } from './enrolment.js';

const TTL = 60_000;
const GRACE = 120_000;

describe('Enrolment (join tokens, agent certificates), with a clock the test moves', () => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  let cleanup: () => Promise<void>;
  let store: FileStore;
  let ca: CertificateAuthority;
  let e: Enrolment;
  before(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    ca = await CertificateAuthority.loadOrCreate(join(t.dir, 'ca'), 'enrol.local', () => now);
    store = await FileStore.open(join(t.dir, 'store'));
    e = new Enrolment({ store, ca, certTtlMs: TTL, clock: () => now, controlPlaneIdentity: 'spiffe://enrol.local/ns/trellis-system/sa/control-plane', trustDomain: 'enrol.local', renewalGraceMs: GRACE, addresses: () => ['https://10.0.0.1:15000'] });
  });
  after(async () => {
    await store.close();
    await cleanup();
  });

  const secretOf = (token: string): string => (decodeJoinToken(token) as { ok: true; payload: { token: string } }).payload.token;
  const refusal = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (err) {
      if (err instanceof HttpError) return `${err.status} ${err.message}`;
      if (err instanceof TrellisError) return `${err.code} ${err.message}`;
      throw err;
    }
    return 'ok';
  };

  it('a join token carries the CA pin and the addresses; the host joins once and gets spiffe://<td>/agent/<host>', async () => {
    const t = await e.createJoinToken({ host: 'h1', ttlMs: 3600_000, serviceAccounts: ['default/web'] });
    const payload = decodeJoinToken(t.token);
    assert.ok(payload.ok);
    assert.deepEqual({ ...payload.payload, token: '' }, { token: '', host: 'h1', caFingerprint: caFingerprint(ca.trustBundlePem()[0]!), addresses: ['https://10.0.0.1:15000'] });
    const { csrPem } = await generateKeyAndCsr('spiffe://enrol.local/agent/anything');
    const bad = await refusal(e.join({ token: secretOf(t.token), csrPem: 'not a csr' }));
    assert.match(bad, /^TRELLIS_E_IDENTITY malformed CSR/);
    assert.equal(store.joinTokens().get(t.id)?.usedAt, null, 'a bad CSR does not cost the token');
    const cert = await e.join({ token: secretOf(t.token), csrPem });
    assert.equal(cert.identity, 'spiffe://enrol.local/agent/h1');
    assert.equal(new X509Certificate(cert.certChainPem[0]!).subjectAltName, 'URI:spiffe://enrol.local/agent/h1', 'the name comes from the token, not the CSR');
    assert.deepEqual(store.hostPolicies().get('h1')?.serviceAccounts, ['default/web']);
    assert.match(await refusal(e.join({ token: secretOf(t.token), csrPem })), /^401 join token [0-9a-f]{16} was already used at 2030-01-01T00:00:00.000Z/);
    const wrongSecret = `${secretOf(t.token).slice(0, 17)}${'A'.repeat(43)}`;
    assert.match(await refusal(e.join({ token: wrongSecret, csrPem })), /^401 unknown join token/);
  });

  it('a token is refused once its ttl has passed; old spent tokens are swept', async () => {
    const t = await e.createJoinToken({ host: 'h2', ttlMs: 1000, serviceAccounts: ['default/web'] });
    now += 1000;
    const { csrPem } = await generateKeyAndCsr('spiffe://enrol.local/agent/h2');
    assert.match(await refusal(e.join({ token: secretOf(t.token), csrPem })), /^401 join token [0-9a-f]{16} expired at 2030-01-01T00:00:01.000Z/);
    now += SPENT_TOKEN_RETENTION_MS;
    await e.createJoinToken({ host: 'h3', ttlMs: 1000, serviceAccounts: ['*'] });
    assert.deepEqual(e.listJoinTokens().map((x) => x.host), ['h3']);
  });

  it('no https address: no join token (a host could not verify a plain HTTP control plane)', async () => {
    assert.match(await refusal(e.createJoinToken({ host: 'h9', ttlMs: 1000, serviceAccounts: ['web'], addresses: ['http://127.0.0.1:1'] })), /^409 a joining host needs the REST API over HTTPS/);
  });

  it('renewal with a just-expired certificate works within the grace period, for that host only, while it is joined', async () => {
    const t = await e.createJoinToken({ host: 'h4', ttlMs: 3600_000, serviceAccounts: ['default/web'] });
    const { csrPem } = await generateKeyAndCsr('spiffe://enrol.local/agent/h4');
    const cert = await e.join({ token: secretOf(t.token), csrPem });
    const der = new X509Certificate(cert.certChainPem[0]!).raw;
    now = Date.parse(cert.notAfter) + GRACE / 2;
    assert.equal((await e.renewExpired('h4', der, csrPem)).identity, 'spiffe://enrol.local/agent/h4');
    assert.match(await refusal(e.renewExpired('h1', der, csrPem)), /^403 certificate spiffe:\/\/enrol.local\/agent\/h4 may not renew host h1/);
    now = Date.parse(cert.notAfter) + GRACE + 1000;
    assert.match(await refusal(e.renewExpired('h4', der, csrPem)), /^401 renewal refused: .*expired at .* more than 120 s ago/);
    await e.deleteHost('h4');
    assert.match(await refusal(e.renew('h4', csrPem)), /^403 host h4 is not joined/);
  });
});
