import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from './io.js';
import { tapQueryFromFlags } from './tap-client.js';

describe('tapQueryFromFlags', () => {
  it('reads --status failed and --grpc-status as a code or a name', () => {
    assert.deepEqual(tapQueryFromFlags({ status: 'failed' }, 'usage'), { status: 'failed' });
    assert.deepEqual(tapQueryFromFlags({ 'grpc-status': '14' }, 'usage'), { grpcStatus: 14 });
    assert.deepEqual(tapQueryFromFlags({ 'grpc-status': 'unavailable', direction: 'inbound' }, 'usage'), { direction: 'inbound', grpcStatus: 14 });
  });

  it('a bad value is a usage error naming the flag as typed', () => {
    assert.throws(() => tapQueryFromFlags({ 'grpc-status': 'nope' }, 'usage'), (err: unknown) => err instanceof UsageError && /^--grpc-status: must be a gRPC status code 0-16/.test(err.message));
    assert.throws(() => tapQueryFromFlags({ status: '5x' }, 'usage'), (err: unknown) => err instanceof UsageError && /^--status: /.test(err.message));
  });
});
