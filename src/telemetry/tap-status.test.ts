import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcStatusName, isFailure, parseGrpcStatus, tapStatusText } from './tap-status.js';

test('tapStatusText: the HTTP status, and for gRPC the grpc-status by name and code', () => {
  assert.equal(tapStatusText(503, undefined), '503');
  assert.equal(tapStatusText(200, 14), '200 grpc=UNAVAILABLE(14)');
  assert.equal(tapStatusText(200, 0), '200 grpc=OK(0)');
  assert.equal(tapStatusText(200, 99), '200 grpc=CODE_99(99)');
});

test('isFailure: no response, 5xx, or a non-OK gRPC status', () => {
  assert.equal(isFailure(200, undefined), false);
  assert.equal(isFailure(404, undefined), false);
  assert.equal(isFailure(500, undefined), true);
  assert.equal(isFailure(0, undefined), true);
  assert.equal(isFailure(200, 0), false);
  assert.equal(isFailure(200, 14), true);
  assert.equal(isFailure(200, 1), true);
});

test('gRPC status names and codes both ways', () => {
  for (let code = 0; code <= 16; code++) assert.equal(parseGrpcStatus(grpcStatusName(code)), code);
  assert.equal(parseGrpcStatus('resource-exhausted'), 8);
  assert.equal(parseGrpcStatus('017'), undefined);
  assert.equal(parseGrpcStatus('17'), undefined);
  assert.equal(parseGrpcStatus('ok'), 0);
  assert.equal(parseGrpcStatus('constructor'), undefined);
});
