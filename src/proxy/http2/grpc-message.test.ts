import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeGrpcMessage } from './grpc-message.js';

test('printable ASCII other than % goes as it is (no %3A for colons, no %20 for spaces)', () => {
  const m = 'trellis app-unavailable: app 127.0.0.1:45049: connect ECONNREFUSED [x] ~!@#$^&*()';
  assert.equal(encodeGrpcMessage(m), m);
});

test('%, control characters and non-ASCII are percent-encoded as UTF-8 octets, upper-case hex', () => {
  assert.equal(encodeGrpcMessage('100% done'), '100%25 done');
  assert.equal(encodeGrpcMessage('a\r\nb\0'), 'a%0D%0Ab%00');
  assert.equal(encodeGrpcMessage('caf\u00e9 \u2713'), 'caf%C3%A9 %E2%9C%93');
  assert.equal(encodeGrpcMessage('\x7f'), '%7F');
});

test('every encoding is printable ASCII and decodes back to the message (the gRPC spec grammar)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (m) => {
      const e = encodeGrpcMessage(m);
      assert.match(e, /^(?:[\x20-\x24\x26-\x7e]|%[0-9A-F]{2})*$/);
      assert.equal(decodeURIComponent(e), Buffer.from(m, 'utf8').toString('utf8'));
    }),
    { seed: 9, numRuns: 200 },
  );
});
