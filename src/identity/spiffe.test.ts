import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpiffeId, parseSpiffeUri, parseSubjectAltNames, spiffeId, spiffeIdOfPeer } from './spiffe.js';
import type { PeerCertificate } from 'node:tls';

test('spiffeId builds the Trellis shape and round-trips through parseSpiffeId', () => {
  const id = spiffeId('shop.trellis.local', 'default', 'frontend');
  assert.equal(id, 'spiffe://shop.trellis.local/ns/default/sa/frontend');
  assert.deepEqual(parseSpiffeId(id), { trustDomain: 'shop.trellis.local', namespace: 'default', serviceAccount: 'frontend' });
  assert.throws(() => spiffeId('Upper', 'default', 'x'));
  assert.throws(() => spiffeId('td', '..', 'x'));
  assert.throws(() => spiffeId('td', 'ns', 'a/b'));
});

const valid: [string, string, string, string][] = [
  ['spiffe://td/ns/a/sa/b', 'td', 'a', 'b'],
  ['spiffe://my-td_1.example/ns/Default/sa/Front-End_2.v', 'my-td_1.example', 'Default', 'Front-End_2.v'],
  ['spiffe://td/ns/.../sa/b', 'td', '...', 'b'],
];
for (const [uri, td, ns, sa] of valid) {
  test(`parseSpiffeId accepts ${uri}`, () => {
    assert.deepEqual(parseSpiffeId(uri), { trustDomain: td, namespace: ns, serviceAccount: sa });
  });
}

const invalid: [string, string][] = [
  ['', 'empty'],
  ['http://td/ns/a/sa/b', 'wrong scheme'],
  ['SPIFFE://td/ns/a/sa/b', 'upper-case scheme'],
  ['spiffe:/td/ns/a/sa/b', 'one slash'],
  ['spiffe:///ns/a/sa/b', 'empty trust domain'],
  ['spiffe://TD/ns/a/sa/b', 'upper-case trust domain'],
  ['spiffe://td:443/ns/a/sa/b', 'port'],
  ['spiffe://user@td/ns/a/sa/b', 'userinfo'],
  ['spiffe://td/ns/a/sa/b?x=1', 'query'],
  ['spiffe://td/ns/a/sa/b#frag', 'fragment'],
  ['spiffe://td/ns/a/sa/b/', 'trailing slash'],
  ['spiffe://td/ns//sa/b', 'empty segment'],
  ['spiffe://td/ns/./sa/b', 'dot segment'],
  ['spiffe://td/ns/../sa/b', 'dot-dot segment'],
  ['spiffe://td/ns/a%20b/sa/b', 'percent-encoding'],
  ['spiffe://td/ns/a/sa', 'too short'],
  ['spiffe://td/ns/a/sa/b/c', 'too long'],
  ['spiffe://td/namespace/a/sa/b', 'not ns'],
  ['spiffe://td/ns/a/serviceaccount/b', 'not sa'],
  ['spiffe://td', 'trust domain only'],
  [`spiffe://td/ns/${'a'.repeat(2100)}/sa/b`, 'over 2048 bytes'],
  ['spiffe://t d/ns/a/sa/b', 'space'],
];
for (const [uri, why] of invalid) {
  test(`parseSpiffeId refuses ${why}`, () => {
    assert.equal(parseSpiffeId(uri), null);
  });
}

test('parseSpiffeUri accepts a trust domain ID', () => {
  assert.deepEqual(parseSpiffeUri('spiffe://td'), { trustDomain: 'td', segments: [] });
  assert.equal(parseSpiffeUri('spiffe://td/'), null);
});

test('parseSubjectAltNames handles quoted values', () => {
  assert.deepEqual(parseSubjectAltNames('URI:spiffe://td/ns/a/sa/b, DNS:localhost, IP Address:127.0.0.1'), [
    ['URI', 'spiffe://td/ns/a/sa/b'],
    ['DNS', 'localhost'],
    ['IP Address', '127.0.0.1'],
  ]);
  assert.deepEqual(parseSubjectAltNames('URI:"spiffe://td/ns/a, URI:spiffe://td/ns/x/sa/y", DNS:x'), [
    ['URI', 'spiffe://td/ns/a, URI:spiffe://td/ns/x/sa/y'],
    ['DNS', 'x'],
  ]);
});

function peer(san: string | undefined): PeerCertificate {
  return { subjectaltname: san } as unknown as PeerCertificate;
}

test('spiffeIdOfPeer wants exactly one SPIFFE URI SAN', () => {
  assert.equal(spiffeIdOfPeer(peer('URI:spiffe://td/ns/a/sa/b, DNS:x')), 'spiffe://td/ns/a/sa/b');
  assert.equal(spiffeIdOfPeer(peer('URI:https://x, URI:spiffe://td/ns/a/sa/b')), 'spiffe://td/ns/a/sa/b');
  assert.equal(spiffeIdOfPeer(peer('URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/c/sa/d')), null);
  assert.equal(spiffeIdOfPeer(peer('DNS:x')), null);
  assert.equal(spiffeIdOfPeer(peer(undefined)), null);
  assert.equal(spiffeIdOfPeer(peer('URI:"spiffe://td/ns/a, URI:spiffe://td/ns/x/sa/y"')), null);
  assert.equal(spiffeIdOfPeer(peer('URI:spiffe://TD/ns/a/sa/b')), null);
});
