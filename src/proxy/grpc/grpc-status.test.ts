import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcStatusFromHttp, readGrpcStatus } from './grpc-status.js';

test('maps HTTP statuses to gRPC codes as gRPC and Envoy do', () => {
  const table: [number, number][] = [
    [400, 13],
    [401, 16],
    [403, 7],
    [404, 12],
    [429, 14],
    [502, 14],
    [503, 14],
    [504, 14],
    [500, 2],
    [418, 2],
    [302, 2],
  ];
  for (const [http, grpc] of table) assert.equal(grpcStatusFromHttp(http), grpc, String(http));
});

test('reads grpc-status, ignoring absent or malformed values', () => {
  assert.equal(readGrpcStatus({ 'grpc-status': '0' }), 0);
  assert.equal(readGrpcStatus({ 'grpc-status': '14' }), 14);
  assert.equal(readGrpcStatus({}), undefined);
  assert.equal(readGrpcStatus({ 'grpc-status': 'x' }), undefined);
  assert.equal(readGrpcStatus({ 'grpc-status': '' }), undefined);
  assert.equal(readGrpcStatus({ 'grpc-status': '-1' }), undefined);
});
