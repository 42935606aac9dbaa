import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grpcRouteSettings } from './grpc-annotations.js';
import { parseResourcesText } from './load.js';
import { problemPath, validateResource } from './validate.js';

const grpc = (annotations: Record<string, string>): unknown => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'GRPCRoute',
  metadata: { name: 'g', annotations },
  spec: { parentRefs: [{ name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders', port: 9090 }] }] },
});

function problems(raw: unknown): string[] {
  const v = validateResource(raw);
  return v.ok ? [] : v.problems.map((p) => `${problemPath(p)}: ${p.message}`);
}

describe('GRPCRoute retry and timeout annotations', () => {
  it('code names (any case, _ or -) and numbers; defaults for attempts and backoff', () => {
    assert.deepEqual(grpcRouteSettings({ 'retry.trellis.dev/grpc-codes': 'unavailable,Resource_Exhausted, 2' }), {
      ok: true,
      settings: { retry: { codes: [], grpcCodes: [2, 8, 14], attempts: 1, backoffMs: 25 } },
    });
    assert.deepEqual(grpcRouteSettings({ 'timeout.trellis.dev/request': '0s' }), { ok: true, settings: { timeouts: { requestMs: 0 } } });
    assert.deepEqual(grpcRouteSettings(undefined), { ok: true, settings: {} });
    assert.deepEqual(grpcRouteSettings({ 'other.example/x': 'y' }), { ok: true, settings: {} }, 'foreign annotations are left alone');
  });

  it('a bad value rejects the route at apply time, on the annotation\'s path', () => {
    assert.deepEqual(problems(grpc({ 'retry.trellis.dev/grpc-codes': 'unavailable,teapot' })), [
      'metadata.annotations.retry.trellis.dev/grpc-codes: "teapot" is not a gRPC status code: expected names such as unavailable, resource-exhausted (cancelled, unknown, invalid-argument, deadline-exceeded, not-found, already-exists, permission-denied, resource-exhausted, failed-precondition, aborted, out-of-range, unimplemented, internal, unavailable, data-loss, unauthenticated) or numbers 1-16, comma-separated',
    ]);
    assert.match(problems(grpc({ 'retry.trellis.dev/grpc-codes': '17' }))[0] ?? '', /"17" is not a gRPC status code/);
    assert.match(problems(grpc({ 'retry.trellis.dev/grpc-codes': '14', 'retry.trellis.dev/attempts': 'many' }))[0] ?? '', /^metadata\.annotations\.retry\.trellis\.dev\/attempts: expected an integer 0\.\.100/);
    assert.match(problems(grpc({ 'retry.trellis.dev/grpc-codes': '14', 'retry.trellis.dev/backoff': '1.5s' }))[0] ?? '', /retry\.trellis\.dev\/backoff: expected a Gateway API duration/);
    assert.deepEqual(problems(grpc({ 'retry.trellis.dev/attempts': '2' })), ['metadata.annotations.retry.trellis.dev/attempts: needs retry.trellis.dev/grpc-codes (which gRPC statuses are retried)']);
    assert.deepEqual(problems(grpc({ 'timeout.trellis.dev/request': '1s', 'timeout.trellis.dev/backend-request': '2s' })), [
      'metadata.annotations.timeout.trellis.dev/backend-request: must not be greater than timeout.trellis.dev/request',
    ]);
    assert.match(problems(grpc({ 'retry.trellis.dev/grpc-code': '14' }))[0] ?? '', /^metadata\.annotations\.retry\.trellis\.dev\/grpc-code: unknown annotation/);
  });

  it('in a YAML file the problem points at the annotation\'s line', () => {
    const text = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: orders
  annotations:
    retry.trellis.dev/grpc-codes: "unavailable,nope"
spec:
  parentRefs: [{ name: orders }]
  rules: [{ backendRefs: [{ name: orders, port: 9090 }] }]
`;
    assert.throws(
      () => parseResourcesText(text, 'r.yaml'),
      (err: { issues: { line: number; path: string }[] }) => err.issues[0]?.line === 6 && err.issues[0].path === 'GRPCRoute/orders: metadata.annotations.retry.trellis.dev/grpc-codes',
    );
  });
});

describe('route checks for what the data plane cannot do', () => {
  it('per-backend filters are rejected with the reason', () => {
    const raw = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r' },
      spec: { parentRefs: [{ name: 'web' }], rules: [{ backendRefs: [{ name: 'web', port: 80, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['x'] } }] }] }] },
    };
    assert.deepEqual(problems(raw), ['spec.rules[0].backendRefs[0].filters: per-backend filters are not supported by the Trellis data plane; put the filter on the rule (rules[].filters)']);
  });

  it('one FaultInjection per rule', () => {
    const ext = (name: string) => ({ type: 'ExtensionRef', extensionRef: { group: 'trellis.dev', kind: 'FaultInjection', name } });
    const raw = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r' },
      spec: { parentRefs: [{ name: 'web' }], rules: [{ filters: [ext('a'), ext('b')], backendRefs: [{ name: 'web', port: 80 }] }] },
    };
    assert.deepEqual(problems(raw), ['spec.rules[0].filters[1].type: ExtensionRef may appear at most once per rule']);
  });
});
