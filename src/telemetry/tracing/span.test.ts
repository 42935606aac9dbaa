import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochMsToNs, httpSpan, targetPath, tcpSpan, type HttpSpanInput } from './span.js';

const base: HttpSpanInput = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  parentSpanId: undefined,
  kind: 'server',
  startNs: 1_700_000_000_000_000_000n,
  endNs: 1_700_000_000_002_000_000n,
  method: 'GET',
  target: '/orders/42?token=secret',
  host: 'orders.shop:8080',
  status: 200,
  protocol: '1.1',
};

test('an HTTP span carries the OpenTelemetry HTTP attributes, and no query string', () => {
  const span = httpSpan({ ...base, route: 'shop/orders', peerIdentity: 'spiffe://mesh/ns/shop/sa/web' });
  assert.equal(span.name, 'GET');
  assert.equal(span.status, 'unset');
  assert.deepEqual(span.attributes, {
    'http.request.method': 'GET',
    'url.path': '/orders/42',
    'network.protocol.version': '1.1',
    'http.response.status_code': 200,
    'server.address': 'orders.shop',
    'server.port': 8080,
    'trellis.route': 'shop/orders',
    'trellis.peer.identity': 'spiffe://mesh/ns/shop/sa/web',
  });
});

test('status: 5xx is an error on both sides, 4xx on the client side only, no status at all is an error', () => {
  assert.equal(httpSpan({ ...base, status: 503, reason: 'no-healthy-upstream' }).status, 'error');
  assert.equal(httpSpan({ ...base, status: 503, reason: 'no-healthy-upstream' }).statusMessage, 'no-healthy-upstream');
  assert.equal(httpSpan({ ...base, status: 503, reason: 'no-healthy-upstream' }).attributes['trellis.reason'], 'no-healthy-upstream');
  assert.equal(httpSpan({ ...base, status: 404 }).status, 'unset');
  assert.equal(httpSpan({ ...base, kind: 'client', status: 404 }).status, 'error');
  const died = httpSpan({ ...base, status: 0 });
  assert.equal(died.status, 'error');
  assert.equal(died.attributes['http.response.status_code'], undefined);
});

test('gRPC spans: rpc name and status code; server errors per the rpc conventions', () => {
  const grpc = { ...base, method: 'POST', target: '/shop.Orders/Get', protocol: '2' as const, grpcStatus: 5 };
  const server = httpSpan(grpc);
  assert.equal(server.name, 'shop.Orders/Get');
  assert.equal(server.attributes['rpc.grpc.status_code'], 5);
  assert.equal(server.attributes['rpc.system'], 'grpc');
  assert.equal(server.status, 'unset'); // NOT_FOUND is the caller's problem
  assert.equal(httpSpan({ ...grpc, kind: 'client' }).status, 'error');
  assert.equal(httpSpan({ ...grpc, grpcStatus: 14 }).status, 'error'); // UNAVAILABLE
  assert.equal(httpSpan({ ...grpc, grpcStatus: 0 }).status, 'unset');
});

test('unknown methods are _OTHER with the original kept; hosts without a port and IPv6', () => {
  const span = httpSpan({ ...base, method: 'PURGE', host: '[::1]' });
  assert.equal(span.attributes['http.request.method'], '_OTHER');
  assert.equal(span.attributes['http.request.method_original'], 'PURGE');
  assert.equal(span.name, 'HTTP');
  assert.equal(span.attributes['server.address'], '[::1]');
  assert.equal(span.attributes['server.port'], undefined);
  assert.equal(httpSpan({ ...base, host: '[::1]:9000' }).attributes['server.port'], 9000);
  assert.equal(httpSpan({ ...base, host: undefined }).attributes['server.address'], undefined);
});

test('targetPath handles origin, absolute, asterisk and authority forms', () => {
  assert.equal(targetPath('/a/b'), '/a/b');
  assert.equal(targetPath('/a?x=1'), '/a');
  assert.equal(targetPath('http://h:1/p/q?x'), '/p/q');
  assert.equal(targetPath('http://h:1'), '/');
  assert.equal(targetPath('*'), '*');
  assert.equal(targetPath('h:443'), 'h:443');
});

test('epochMsToNs keeps whole and fractional milliseconds', () => {
  assert.equal(epochMsToNs(1_700_000_000_123), 1_700_000_000_123_000_000n);
  assert.equal(epochMsToNs(1_700_000_000_123.5), 1_700_000_000_123_500_000n);
});

test('a TCP span is a root span named after the service, an error when the relay failed', () => {
  const input = { traceId: base.traceId, spanId: base.spanId, kind: 'server' as const, startNs: base.startNs, endNs: base.endNs, service: 'inventory', bytesIn: 10, bytesOut: 20 };
  const ok = tcpSpan(input);
  assert.equal(ok.name, 'tcp inventory');
  assert.equal(ok.parentSpanId, undefined);
  assert.equal(ok.status, 'unset');
  assert.deepEqual(ok.attributes, { 'network.transport': 'tcp', 'server.address': 'inventory', 'trellis.bytes_in': 10, 'trellis.bytes_out': 20 });
  const failed = tcpSpan({ ...input, error: 'connect ECONNREFUSED', upstream: '127.0.0.1:9' });
  assert.equal(failed.status, 'error');
  assert.equal(failed.statusMessage, 'connect ECONNREFUSED');
  assert.equal(failed.attributes['network.peer.address'], '127.0.0.1:9');
});
