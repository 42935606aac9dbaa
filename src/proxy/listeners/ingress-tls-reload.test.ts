import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import pino from 'pino';
import { ingressTlsFixture } from '../testing/ingress-tls-fixture.js';
import type { IngressTlsFixture } from '../testing/ingress-tls-fixture.js';
import type { OutboundListener } from './outbound.js';

// Ingress certificate reload over real sockets: replaced files are served to new connections,
// open connections keep theirs, a bad replacement is refused with the file named and the
// previous pair keeps serving.

let f: IngressTlsFixture;
const logLines: { level: number; msg: string; file?: string }[] = [];

before(async () => {
  const logger = pino({ level: 'info' }, { write: (s: string) => logLines.push(JSON.parse(s) as { level: number; msg: string; file?: string }) });
  f = await ingressTlsFixture({ logger });
});

after(async () => {
  await f.close();
});

function connect(servername: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: f.port('web-tls'), servername, ca: f.webCa.certPem }, () => resolve(s));
    s.once('error', reject);
  });
}

const serialOf = (s: tls.TLSSocket): string => s.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '';

async function newConnectionSerial(servername: string): Promise<string> {
  const s = await connect(servername);
  const serial = serialOf(s);
  s.destroy();
  return serial;
}

/** One HTTP/1.1 request on an open TLS connection (kept alive); resolves with the status line. */
function get(s: tls.TLSSocket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(buf);
      if (end >= 0 && len !== null && buf.length >= end + 4 + Number(len[1])) {
        s.off('data', onData);
        resolve(buf.slice(0, buf.indexOf('\r\n')));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
  });
}

/** Polls until `check` holds; the bound is a safety net (file events are asynchronous), not a timing claim. */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`never saw: ${what}`);
}

function tlsStatus(): { certificates: { certFile: string; names: string[]; notAfter: string }[]; lastError: string | null } {
  const l = f.ingress.listener('web-tls', 'outbound') as OutboundListener;
  const s = l.tlsStatus();
  assert.ok(s !== null);
  return s;
}

test('replaced files: new connections get the new certificate, a connection opened before keeps the old one and goes on working', async () => {
  const old = await connect('a.test');
  assert.equal(serialOf(old), f.serials.a);
  assert.equal(await get(old, '/before'), 'HTTP/1.1 200 OK');

  const next = await f.webCa.issue(['a.test']);
  await f.write('a', next);
  await until('the new certificate on a new connection', async () => (await newConnectionSerial('a.test')) === next.serial);
  assert.equal(await newConnectionSerial('b.test'), f.serials.b, 'the other host name keeps its certificate');

  // The same TLS session (no renegotiation exists to change its certificate) goes on serving.
  assert.equal(await get(old, '/after'), 'HTTP/1.1 200 OK', 'the old connection still serves requests');
  assert.equal(old.destroyed, false);
  old.destroy();
  assert.ok(logLines.some((l) => l.msg === 'ingress TLS certificates reloaded'));
  assert.equal(tlsStatus().lastError, null);
});

test('a bad replacement is refused with the file named; the previous certificate keeps serving; a good one later is taken', async () => {
  const serving = await newConnectionSerial('b.test');
  // A new certificate with the key of another: the key file is at fault.
  const fresh = await f.webCa.issue(['b.test', '*.b.test']);
  const other = await f.webCa.issue(['b.test']);
  await f.write('b', { certPem: fresh.certPem, keyPem: other.keyPem });
  await until('the refusal', () => tlsStatus().lastError !== null);
  const err = tlsStatus().lastError ?? '';
  assert.ok(err.startsWith(`${f.files.b.key}: `), err);
  assert.match(err, /does not match the certificate/);
  const line = logLines.find((l) => l.level === 50 && l.file === f.files.b.key);
  assert.ok(line !== undefined, 'an error line names the file');
  assert.match(line.msg, /previous certificates stay in use/);
  assert.equal(await newConnectionSerial('b.test'), serving, 'still the previous certificate');

  // An expired certificate: the certificate file is at fault.
  const expired = await f.webCa.issue(['b.test'], { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) });
  await f.write('b', expired);
  await until('the refusal of the expired certificate', () => /expired/.test(tlsStatus().lastError ?? ''));
  assert.ok((tlsStatus().lastError ?? '').startsWith(`${f.files.b.cert}: `));
  assert.equal(await newConnectionSerial('b.test'), serving);

  // Garbage in place of the certificate.
  await f.write('b', { certPem: 'not a certificate\n', keyPem: fresh.keyPem });
  await until('the refusal of garbage', () => /no PEM certificate/.test(tlsStatus().lastError ?? ''));
  assert.equal(await newConnectionSerial('b.test'), serving);

  await f.write('b', fresh);
  await until('the good pair', async () => (await newConnectionSerial('b.test')) === fresh.serial);
  assert.equal(tlsStatus().lastError, null);
  assert.deepEqual(tlsStatus().certificates.map((c) => c.names), [['a.test'], ['b.test', '*.b.test']]);
  const text = await f.ingress.metrics.text();
  const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  // At least: a reload may also catch a new certificate before its key is written (refused, then taken).
  assert.ok(value('trellis_ingress_tls_reloads_total{listener="web-tls",result="refused"}') >= 3, 'three refusals: mismatched key, expired, garbage');
  assert.ok(value('trellis_ingress_tls_reloads_total{listener="web-tls",result="ok"}') >= 2, 'a.test replaced, then b.test');
  const expiry = new RegExp(`trellis_ingress_certificate_expiry_timestamp_seconds\\{listener="web-tls",cert_file="${f.files.b.cert}"\\} (\\d+)`).exec(text);
  assert.ok(expiry !== null, text);
  assert.equal(Number(expiry[1]), Math.floor(new Date(tlsStatus().certificates[1]?.notAfter ?? 0).getTime() / 1000));
});
