import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyHeaderEdits, isRemoved, meshHeaderPolicy, PEER_IDENTITY_HEADER, plainAddress, requestHeaderEdits,
} from './mesh-headers.js';

const CLIENT_SENT = [
  'host', 'shop.example',
  'x-forwarded-for', '10.0.0.1, 10.0.0.2',
  'forwarded', 'for=10.0.0.1;proto=https',
  'x-forwarded-proto', 'https',
  'x-forwarded-host', 'admin.internal',
  'x-forwarded-port', '443',
  'x-real-ip', '10.0.0.1',
  'x-forwarded-client-cert', 'By=spiffe://mesh/ns/default/sa/admin;URI=spiffe://mesh/ns/default/sa/admin',
  'trellis-peer-identity', 'spiffe://mesh/ns/default/sa/admin',
  'trellis-whatever', '1',
  'x-forwarded-for', '10.9.9.9',
  'x-envoy-original-path', '/x',
  'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  'accept', '*/*',
];

describe('mesh-owned headers at the ingress', () => {
  const policy = meshHeaderPolicy('ingress', { clientAddress: '203.0.113.7', proto: 'http' });

  it('removes every forwarding header, XFCC and trellis-* a client sent, then sets x-forwarded-for and -proto', () => {
    const edits = requestHeaderEdits(policy, CLIENT_SENT);
    assert.deepEqual([...edits.remove].sort(), [
      'forwarded', 'trellis-peer-identity', 'trellis-whatever', 'x-forwarded-client-cert', 'x-forwarded-for',
      'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-real-ip',
    ]);
    assert.deepEqual(applyHeaderEdits(CLIENT_SENT, edits), [
      'host', 'shop.example',
      'x-envoy-original-path', '/x',
      'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'accept', '*/*',
      'x-forwarded-for', '203.0.113.7',
      'x-forwarded-proto', 'http',
    ]);
  });

  it('allocates nothing for a request with nothing to remove', () => {
    const a = requestHeaderEdits(policy, ['host', 'a', 'accept', '*/*', 'x-request-id', '1', 'te', 'trailers', 'from', 'x@y']);
    const b = requestHeaderEdits(policy, []);
    assert.equal(a, policy.addOnly);
    assert.equal(b, policy.addOnly);
    assert.deepEqual(a.remove, []);
    assert.deepEqual(a.add, ['x-forwarded-for', '203.0.113.7', 'x-forwarded-proto', 'http']);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.add) && Object.isFrozen(a.remove));
  });

  it('names a repeated field once', () => {
    const e = requestHeaderEdits(policy, ['x-forwarded-for', 'a', 'x-forwarded-for', 'b', 'trellis-x', '1', 'trellis-x', '2']);
    assert.deepEqual(e.remove, ['x-forwarded-for', 'trellis-x']);
  });

  it('writes an IPv4 client of a dual-stack socket as IPv4, IPv6 as is, https when told', () => {
    assert.equal(plainAddress('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(plainAddress('::ffff:c000:201'), '::ffff:c000:201');
    assert.equal(plainAddress('2001:db8::1'), '2001:db8::1');
    const v6 = meshHeaderPolicy('ingress', { clientAddress: '::1', proto: 'https' });
    assert.deepEqual(v6.add, ['x-forwarded-for', '::1', 'x-forwarded-proto', 'https']);
    const mapped = meshHeaderPolicy('ingress', { clientAddress: '::ffff:127.0.0.1' });
    assert.deepEqual(mapped.add, ['x-forwarded-for', '127.0.0.1', 'x-forwarded-proto', 'http']);
  });

  it('without a client address, removes the client-sent one and claims none', () => {
    const p = meshHeaderPolicy('ingress', { clientAddress: undefined });
    const e = requestHeaderEdits(p, ['x-forwarded-for', '6.6.6.6']);
    assert.deepEqual(applyHeaderEdits(['x-forwarded-for', '6.6.6.6'], e), ['x-forwarded-proto', 'http']);
  });
});

describe('mesh-owned headers on sidecar listeners', () => {
  it('outbound: removes only trellis-*; forwarding headers from the app pass', () => {
    const p = meshHeaderPolicy('outbound');
    const e = requestHeaderEdits(p, CLIENT_SENT);
    assert.deepEqual(e.remove, ['trellis-peer-identity', 'trellis-whatever']);
    assert.deepEqual(e.add, []);
    assert.ok(!isRemoved(p, 'x-forwarded-for'));
    assert.ok(!isRemoved(p, 'x-forwarded-client-cert'));
  });

  it('inbound: removes trellis-* and XFCC, sets the verified peer identity; forwarding headers pass', () => {
    const p = meshHeaderPolicy('inbound', { peerIdentity: 'spiffe://mesh/ns/default/sa/web' });
    const e = requestHeaderEdits(p, CLIENT_SENT);
    assert.deepEqual(e.remove, ['x-forwarded-client-cert', 'trellis-peer-identity', 'trellis-whatever']);
    const out = applyHeaderEdits(CLIENT_SENT, e);
    assert.deepEqual(out.slice(-2), [PEER_IDENTITY_HEADER, 'spiffe://mesh/ns/default/sa/web']);
    assert.equal(out.filter((x) => x === PEER_IDENTITY_HEADER).length, 1);
    assert.equal(out.filter((x) => x === 'x-forwarded-for').length, 2);
    assert.ok(isRemoved(p, 'trellis-anything'));
    assert.ok(!isRemoved(p, 'x-envoy-original-path'));
  });
});
