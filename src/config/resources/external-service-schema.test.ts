import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, formatIssue } from '../issues.js';
import { parseResourcesText } from './load.js';
import { problemPath, validateResource } from './validate.js';

const TD = 'trellis.dev/v1alpha1';
const ext = (spec: Record<string, unknown>): unknown => ({ apiVersion: TD, kind: 'ExternalService', metadata: { name: 'payments', namespace: 'shop' }, spec });
const messages = (r: unknown): string[] => {
  const v = validateResource(r);
  return v.ok ? [] : v.problems.map((p) => `${problemPath(p)}: ${p.message}`);
};

describe('ExternalService', () => {
  it('accepts a TLS and an HTTP service, a wildcard and static endpoints', () => {
    assert.deepEqual(messages(ext({ hostname: 'api.payments.example', port: 443, protocol: 'TLS' })), []);
    assert.deepEqual(messages(ext({ hostname: '*.example.com', port: 80, protocol: 'HTTP', endpoints: [{ address: '127.0.0.1', port: 8080 }, { address: '::1' }] })), []);
  });

  it('refuses IP hostnames, upper case, bad ports, protocols, addresses and unknown fields', () => {
    const got = messages(ext({ hostname: '10.0.0.1', port: 0, protocol: 'TCP', endpoints: [{ address: 'db.local' }], hosts: [] }));
    assert.deepEqual(got.sort(), [
      'spec.endpoints[0].address: expected an IP address (IPv4 or IPv6, no brackets)',
      'spec.hostname: IP addresses are not hostnames (Gateway API)',
      'spec.hosts: unknown field',
      'spec.port: must be at least 1',
      'spec.protocol: expected one of HTTP, TLS',
    ]);
    assert.match(messages(ext({ hostname: 'API.example.com', port: 443, protocol: 'TLS' })).join(), /lower-case/);
  });

  it('reports file:line:col with the resource and field', () => {
    const text = `apiVersion: ${TD}
kind: ExternalService
metadata: { name: payments }
spec:
  hostname: payments.example.com
  port: 443
  protocol: tcp
`;
    try {
      parseResourcesText(text, 'egress.yaml');
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.issues.map(formatIssue), ['egress.yaml:7:13: ExternalService/payments: spec.protocol: expected one of HTTP, TLS']);
    }
  });

  it('AuthorizationPolicies may target an ExternalService (group trellis.dev) and set its default', () => {
    const ap = (targetRef: Record<string, unknown>): unknown => ({ apiVersion: TD, kind: 'AuthorizationPolicy', metadata: { name: 'who', namespace: 'shop' }, spec: { targetRef, action: 'ALLOW', defaultAction: 'deny', rules: [{}] } });
    assert.deepEqual(messages(ap({ group: 'trellis.dev', kind: 'ExternalService', name: 'payments' })), []);
    assert.deepEqual(messages(ap({ kind: 'ExternalService', name: 'payments' })), ['spec.targetRef.group: expected trellis.dev for an ExternalService']);
  });

  it('a RateLimitPolicy on an ExternalService may not be global (each caller limits its own calls)', () => {
    const rl = (total: Record<string, unknown>): unknown => ({ apiVersion: TD, kind: 'RateLimitPolicy', metadata: { name: 'calm', namespace: 'shop' }, spec: { targetRef: { group: 'trellis.dev', kind: 'ExternalService', name: 'payments' }, total } });
    assert.deepEqual(messages(rl({ requestsPerSecond: 5 })), []);
    assert.deepEqual(messages(rl({ requestsPerSecond: 5, global: true })), ["spec.total.global: not supported for an ExternalService: each caller's proxy limits its own calls to it"]);
  });
});
