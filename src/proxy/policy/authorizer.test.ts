import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuthorizationRuleConfig, HttpRouteConfig, InboundPolicyConfig } from '../../api/snapshot.js';
import { authz, compileOne, CountingCounters, grpcReq, inbound, req, TD, who } from './test-helpers.js';
import type { PolicyRequest } from './types.js';

/** The label and allowed-ness of a decision, for compact assertions. */
function decide(c: InboundPolicyConfig, r: PolicyRequest): string {
  const d = compileOne(c).authorizer.authorize(r);
  return `${d.allowed ? 'allow' : 'deny'} ${d.label}${d.rule !== undefined ? `#${d.rule}` : ''}`;
}

/** Whether one ALLOW rule matches a request (default deny, so "allow" means the rule matched). */
function matches(rule: AuthorizationRuleConfig, r: PolicyRequest, port = 'http'): boolean {
  const c = inbound({ port, defaultAction: 'deny', authorization: [authz('p', 'ALLOW', [rule])] });
  return compileOne(c).authorizer.authorize(r).allowed;
}

/** Whether one DENY rule matches a request (default allow, so "deny" means the rule matched). */
function denies(rule: AuthorizationRuleConfig, r: PolicyRequest): boolean {
  const c = inbound({ authorization: [authz('p', 'DENY', [rule])] });
  return !compileOne(c).authorizer.authorize(r).allowed;
}

describe('evaluation order', () => {
  const both = [authz('allow-all', 'ALLOW', [{}]), authz('no-admin', 'DENY', [{ to: [{ operation: { paths: ['/admin/*'] } }] }])];

  test('DENY is evaluated before ALLOW, whatever the order of the policies', () => {
    assert.equal(decide(inbound({ defaultAction: 'deny', authorization: both }), req({ path: '/admin' })), 'deny shop/no-admin#0');
    assert.equal(decide(inbound({ defaultAction: 'deny', authorization: [...both].reverse() }), req({ path: '/admin/x' })), 'deny shop/no-admin#0');
    assert.equal(decide(inbound({ defaultAction: 'deny', authorization: both }), req({ path: '/shop' })), 'allow shop/allow-all#0');
  });

  test('the first matching rule of the first matching policy is the one reported', () => {
    const c = inbound({ authorization: [authz('a', 'DENY', [{ to: [{ operation: { methods: ['PUT'] } }] }, { to: [{ operation: { methods: ['GET'] } }] }]), authz('b', 'DENY', [{}])] });
    assert.equal(decide(c, req()), 'deny shop/a#1');
  });

  test('the three defaults decide when no DENY and no ALLOW matched', () => {
    const readers = [authz('readers', 'ALLOW', [{ to: [{ operation: { methods: ['GET'] } }] }])];
    const put = req({ method: 'PUT' });
    assert.equal(decide(inbound({ defaultAction: 'allow', authorization: readers }), put), 'allow default');
    assert.equal(decide(inbound({ defaultAction: 'deny', authorization: readers }), put), 'deny default');
    assert.equal(decide(inbound({ defaultAction: 'authenticated', authorization: readers }), put), 'allow default');
    assert.equal(decide(inbound({ defaultAction: 'authenticated', authorization: readers }), req({ method: 'PUT', peer: null })), 'deny default');
    // An ALLOW match wins over every default, for any caller it names.
    assert.equal(decide(inbound({ defaultAction: 'deny', authorization: readers }), req()), 'allow shop/readers#0');
  });

  test('adding the first ALLOW never flips a service to deny-all: the default stays what it says', () => {
    const none = inbound({ defaultAction: 'allow' });
    const one = inbound({ defaultAction: 'allow', authorization: [authz('only-orders', 'ALLOW', [{ to: [{ operation: { paths: ['/orders/*'] } }] }])] });
    for (const path of ['/orders', '/catalog', '/']) {
      assert.equal(compileOne(none).authorizer.authorize(req({ path })).allowed, true);
      assert.equal(compileOne(one).authorizer.authorize(req({ path })).allowed, true, path);
    }
  });

  test('the reason names the policy and rule, or the default and where it came from', () => {
    const c = inbound({ defaultAction: 'deny', defaultFrom: 'shop/lockdown', authorization: [authz('no-admin', 'DENY', [{ to: [{ operation: { paths: ['/admin'] } }] }])] });
    const a = compileOne(c).authorizer;
    assert.equal(a.authorize(req({ path: '/admin' })).reason, 'denied by DENY policy shop/no-admin (rule 0)');
    assert.match(a.authorize(req()).reason, /defaultAction deny \(set by shop\/lockdown\)/);
    const anon = compileOne(inbound({ defaultAction: 'authenticated' })).authorizer.authorize(req({ peer: null }));
    assert.match(anon.reason, /no verified identity/);
    assert.equal(anon.source, 'default');
  });

  test('a policy with no rules matches nothing; a rule with no conditions matches everything', () => {
    assert.equal(decide(inbound({ authorization: [authz('empty', 'DENY', [])] }), req()), 'allow default');
    assert.equal(decide(inbound({ authorization: [authz('all', 'DENY', [{}])] }), req({ peer: null, method: 'DELETE', path: '/x' })), 'deny shop/all#0');
  });

  test('the same request always gets the same shared decision object', () => {
    const a = compileOne(inbound({ authorization: [authz('d', 'DENY', [{ to: [{ operation: { paths: ['/x'] } }] }])] })).authorizer;
    assert.equal(a.authorize(req({ path: '/x' })), a.authorize(req({ path: '/x' })));
    assert.equal(a.authorize(req()), a.authorize(req({ path: '/y' })));
  });
});

describe('AUDIT', () => {
  const c = inbound({ defaultAction: 'deny', authorization: [authz('watch', 'AUDIT', [{ to: [{ operation: { methods: ['DELETE'] } }] }]), authz('ok', 'ALLOW', [{ to: [{ operation: { methods: ['GET'] } }] }])] });

  test('an AUDIT match never changes the decision, and is reported beside it', () => {
    const a = compileOne(c).authorizer;
    assert.equal(a.hasAudit, true);
    const del = req({ method: 'DELETE' });
    assert.equal(a.authorize(del).allowed, false, 'the default still decides');
    assert.equal(a.audit(del)?.label, 'shop/watch');
    assert.equal(a.audit(del)?.action, 'AUDIT');
    assert.equal(a.authorize(req()).label, 'shop/ok');
    assert.equal(a.audit(req()), null);
  });

  test('allowed, denied and audited decisions are counted per policy', () => {
    const counters = new CountingCounters();
    const a = compileOne(c, { counters }).authorizer;
    for (const r of [req(), req(), req({ method: 'DELETE' })]) {
      a.authorize(r).counter.inc();
      a.audit(r)?.counter.inc();
    }
    assert.equal(counters.get('shop/ok|allowed'), 2);
    assert.equal(counters.get('default|denied'), 1);
    assert.equal(counters.get('shop/watch|audited'), 1);
  });
});

describe('from.source', () => {
  test('principals: exact, prefix and suffix globs, and * (any verified caller)', () => {
    assert.equal(matches({ from: [{ source: { principals: [who('web')] } }] }, req()), true);
    assert.equal(matches({ from: [{ source: { principals: [who('web')] } }] }, req({ peer: who('admin') })), false);
    assert.equal(matches({ from: [{ source: { principals: [`${TD}/ns/shop/*`] } }] }, req({ peer: who('any') })), true);
    assert.equal(matches({ from: [{ source: { principals: [`${TD}/ns/shop/*`] } }] }, req({ peer: who('web', 'billing') })), false);
    assert.equal(matches({ from: [{ source: { principals: ['*/sa/web'] } }] }, req({ peer: who('web', 'other') })), true);
    assert.equal(matches({ from: [{ source: { principals: ['*/sa/web'] } }] }, req({ peer: who('webx') })), false);
    assert.equal(matches({ from: [{ source: { principals: ['*'] } }] }, req()), true);
    assert.equal(matches({ from: [{ source: { principals: ['*'] } }] }, req({ peer: null })), false, '* needs a verified identity');
  });

  test('notPrincipals, namespaces, notNamespaces, serviceAccounts, notServiceAccounts', () => {
    assert.equal(matches({ from: [{ source: { notPrincipals: [who('admin')] } }] }, req()), true);
    assert.equal(matches({ from: [{ source: { notPrincipals: [who('admin')] } }] }, req({ peer: who('admin') })), false);
    assert.equal(matches({ from: [{ source: { namespaces: ['shop'] } }] }, req()), true);
    assert.equal(matches({ from: [{ source: { namespaces: ['shop'] } }] }, req({ peer: who('web', 'shopping') })), false, 'exact, not a prefix');
    assert.equal(matches({ from: [{ source: { namespaces: ['shop*'] } }] }, req({ peer: who('web', 'shopping') })), true);
    assert.equal(matches({ from: [{ source: { notNamespaces: ['shop'] } }] }, req()), false);
    assert.equal(matches({ from: [{ source: { notNamespaces: ['shop'] } }] }, req({ peer: who('web', 'billing') })), true);
    assert.equal(matches({ from: [{ source: { serviceAccounts: ['web', 'api'] } }] }, req({ peer: who('api') })), true);
    assert.equal(matches({ from: [{ source: { serviceAccounts: ['web'] } }] }, req({ peer: who('web2') })), false);
    assert.equal(matches({ from: [{ source: { serviceAccounts: ['*-job'] } }] }, req({ peer: who('nightly-job') })), true);
    assert.equal(matches({ from: [{ source: { notServiceAccounts: ['web'] } }] }, req()), false);
    assert.equal(matches({ from: [{ source: { notServiceAccounts: ['web'] } }] }, req({ peer: who('api') })), true);
  });

  test('fields of one source are ANDed; sources are ORed', () => {
    const both = { from: [{ source: { namespaces: ['shop'], serviceAccounts: ['web'] } }] };
    assert.equal(matches(both, req()), true);
    assert.equal(matches(both, req({ peer: who('api') })), false);
    assert.equal(matches(both, req({ peer: who('web', 'billing') })), false);
    const either = { from: [{ source: { serviceAccounts: ['web'] } }, { source: { namespaces: ['billing'] } }] };
    assert.equal(matches(either, req()), true);
    assert.equal(matches(either, req({ peer: who('x', 'billing') })), true);
    assert.equal(matches(either, req({ peer: who('x') })), false);
  });

  test('a caller without a usable identity gets less, never more: not* lists let it into no ALLOW and catch it in every DENY', () => {
    const nots = [{ notPrincipals: [who('admin')] }, { notNamespaces: ['shop'] }, { notServiceAccounts: ['web'] }];
    for (const source of nots) {
      const rule = { from: [{ source }] };
      assert.equal(matches(rule, req({ peer: null })), false, `ALLOW ${JSON.stringify(source)}`);
      assert.equal(denies(rule, req({ peer: null })), true, `DENY ${JSON.stringify(source)}`);
    }
    // A verified ID of another shape (no /ns/<ns>/sa/<sa>): unknown namespace and service account.
    const odd = `${TD}/agent/host-1`;
    assert.equal(matches({ from: [{ source: { notNamespaces: ['shop'] } }] }, req({ peer: odd })), false);
    assert.equal(denies({ from: [{ source: { notServiceAccounts: ['web'] } }] }, req({ peer: odd })), true);
    assert.equal(matches({ from: [{ source: { namespaces: ['*'] } }] }, req({ peer: odd })), false);
    assert.equal(matches({ from: [{ source: { principals: [`${TD}/agent/*`] } }] }, req({ peer: odd })), true, 'principals still compare the whole ID');
    // positive lists never match a caller without identity
    assert.equal(denies({ from: [{ source: { namespaces: ['shop'] } }] }, req({ peer: null })), false);
  });
});

describe('to.operation', () => {
  test('methods and notMethods (exact, case-sensitive)', () => {
    assert.equal(matches({ to: [{ operation: { methods: ['GET', 'HEAD'] } }] }, req({ method: 'HEAD' })), true);
    assert.equal(matches({ to: [{ operation: { methods: ['GET'] } }] }, req({ method: 'get' })), false);
    assert.equal(matches({ to: [{ operation: { notMethods: ['DELETE'] } }] }, req()), true);
    assert.equal(matches({ to: [{ operation: { notMethods: ['DELETE'] } }] }, req({ method: 'DELETE' })), false);
  });

  test('paths: exact, segment prefix /x/* (which covers /x), string prefix /x*, suffix *.json, any *', () => {
    const m = (pattern: string, path: string): boolean => matches({ to: [{ operation: { paths: [pattern] } }] }, req({ path }));
    assert.equal(m('/api/v1', '/api/v1'), true);
    assert.equal(m('/api/v1', '/api/v1/'), false);
    assert.equal(m('/api/*', '/api'), true);
    assert.equal(m('/api/*', '/api/'), true);
    assert.equal(m('/api/*', '/api/v1/x'), true);
    assert.equal(m('/api/*', '/apix'), false);
    assert.equal(m('/api*', '/apix'), true);
    assert.equal(m('/api*', '/ap'), false);
    assert.equal(m('*.json', '/a/b.json'), true);
    assert.equal(m('*.json', '/a/b.jsonp'), false);
    assert.equal(m('*', '/anything'), true);
    assert.equal(m('/*', '/anything'), true);
  });

  test('notPaths: an ALLOW for everything but /admin', () => {
    const rule = { to: [{ operation: { paths: ['*'], notPaths: ['/admin/*', '*.bak'] } }] };
    assert.equal(matches(rule, req({ path: '/shop' })), true);
    assert.equal(matches(rule, req({ path: '/admin' })), false);
    assert.equal(matches(rule, req({ path: '/admin/users' })), false);
    assert.equal(matches(rule, req({ path: '/db.bak' })), false);
    assert.equal(matches(rule, req({ path: '/administrator' })), true, 'segments: /admin/* is not /admin*');
  });

  test('ports and notPorts: an operation for another port never matches, and a rule left with none never matches', () => {
    const onGrpc = { to: [{ operation: { ports: ['grpc'] } }] };
    assert.equal(matches(onGrpc, req(), 'grpc'), true);
    assert.equal(matches(onGrpc, req(), 'http'), false, 'not "any operation" once the grpc one is dropped');
    assert.equal(matches({ to: [{ operation: { notPorts: ['http'] } }] }, req(), 'http'), false);
    assert.equal(matches({ to: [{ operation: { notPorts: ['http'] } }] }, req(), 'admin'), true);
    assert.equal(matches({ to: [{ operation: { ports: ['grpc'] } }, { operation: { methods: ['GET'] } }] }, req(), 'http'), true, 'the other operation still counts');
    assert.equal(denies({ to: [{ operation: { ports: ['grpc'] } }] }, req()), false);
  });

  test('gRPC services and methods match gRPC calls only, on /<service>/<method>', () => {
    const svc = { to: [{ operation: { grpcServices: ['shop.Orders'] } }] };
    assert.equal(matches(svc, grpcReq('/shop.Orders/Get')), true);
    assert.equal(matches(svc, grpcReq('/shop.OrdersAdmin/Get')), false);
    assert.equal(matches(svc, req({ path: '/shop.Orders/Get' })), false, 'not a gRPC call');
    assert.equal(matches(svc, grpcReq('/shop.Orders/Get/extra')), false, 'not a gRPC method path');
    assert.equal(matches(svc, grpcReq('/shop.Orders')), false);
    assert.equal(matches({ to: [{ operation: { grpcServices: ['shop.*'] } }] }, grpcReq('/shop.Admin/Drop')), true);
    const method = { to: [{ operation: { grpcMethods: ['Get*'] } }] };
    assert.equal(matches(method, grpcReq('/shop.Orders/GetOrder')), true);
    assert.equal(matches(method, grpcReq('/shop.Orders/DeleteOrder')), false);
    const both = { to: [{ operation: { grpcServices: ['shop.Orders'], grpcMethods: ['Delete*'] } }] };
    assert.equal(denies(both, grpcReq('/shop.Orders/DeleteAll')), true);
    assert.equal(denies(both, grpcReq('/shop.Users/DeleteAll')), false);
    // gRPC calls also match paths, as any request does.
    assert.equal(matches({ to: [{ operation: { paths: ['/shop.Orders/*'] } }] }, grpcReq('/shop.Orders/Get')), true);
  });

  test('fields of one operation are ANDed; operations are ORed', () => {
    const both = { to: [{ operation: { methods: ['POST'], paths: ['/orders'] } }] };
    assert.equal(matches(both, req({ method: 'POST', path: '/orders' })), true);
    assert.equal(matches(both, req({ method: 'GET', path: '/orders' })), false);
    const either = { to: [{ operation: { methods: ['POST'] } }, { operation: { paths: ['/orders'] } }] };
    assert.equal(matches(either, req({ path: '/orders' })), true);
    assert.equal(matches(either, req({ method: 'POST', path: '/x' })), true);
    assert.equal(matches(either, req({ path: '/x' })), false);
  });
});

describe('when (request headers)', () => {
  const h = (...fields: string[]): PolicyRequest => req({ headers: ['host', 'api', ...fields] });

  test('values: some field with the name matches one of them (globs allowed)', () => {
    const rule = { when: [{ header: 'x-env', values: ['prod', 'stage-*'] }] };
    assert.equal(matches(rule, h('x-env', 'prod')), true);
    assert.equal(matches(rule, h('x-env', 'stage-2')), true);
    assert.equal(matches(rule, h('x-env', 'dev')), false);
    assert.equal(matches(rule, h('x-env', 'dev', 'x-env', 'prod')), true, 'repeated fields: any of them');
    assert.equal(matches(rule, h()), false, 'absent header');
  });

  test('notValues: no field matches; an absent header matches', () => {
    const rule = { when: [{ header: 'x-env', notValues: ['prod'] }] };
    assert.equal(matches(rule, h('x-env', 'dev')), true);
    assert.equal(matches(rule, h('x-env', 'prod')), false);
    assert.equal(matches(rule, h('x-env', 'dev', 'x-env', 'prod')), false);
    assert.equal(matches(rule, h()), true);
    assert.equal(matches({ when: [{ header: 'x-env', values: ['*'], notValues: ['prod'] }] }, h()), false, 'values still needs the header');
  });

  test('conditions are ANDed, and ANDed with from and to', () => {
    const rule = {
      from: [{ source: { serviceAccounts: ['web'] } }],
      to: [{ operation: { methods: ['POST'] } }],
      when: [{ header: 'x-a', values: ['1'] }, { header: 'x-b', values: ['2'] }],
    };
    const ok = req({ method: 'POST', headers: ['x-a', '1', 'x-b', '2'] });
    assert.equal(matches(rule, ok), true);
    assert.equal(matches(rule, { ...ok, headers: ['x-a', '1'] }), false);
    assert.equal(matches(rule, { ...ok, method: 'GET' }), false);
    assert.equal(matches(rule, { ...ok, peer: who('api') }), false);
  });
});

describe('route targets', () => {
  const route: HttpRouteConfig = {
    kind: 'HTTPRoute', namespace: 'shop', name: 'checkout', createdAt: 0,
    rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/checkout' }, method: 'POST' }], backends: [{ cluster: 'shop/api:http' }] }],
  };

  test("a policy on a route applies only to requests its matches select", () => {
    const c = inbound({ authorization: [authz('no-checkout', 'DENY', [{ from: [{ source: { serviceAccounts: ['bot'] } }] }], { route })] });
    const a = compileOne(c).authorizer;
    assert.equal(a.authorize(req({ peer: who('bot'), method: 'POST', path: '/checkout/pay' })).allowed, false);
    assert.equal(a.authorize(req({ peer: who('bot'), method: 'GET', path: '/checkout/pay' })).allowed, true);
    assert.equal(a.authorize(req({ peer: who('bot'), method: 'POST', path: '/cart' })).allowed, true);
    assert.equal(a.authorize(req({ peer: who('web'), method: 'POST', path: '/checkout' })).allowed, true);
  });
});

describe('health checks of the port', () => {
  const lockdown = inbound({ defaultAction: 'deny', healthCheck: { httpPaths: ['/healthz'], grpc: false }, authorization: [authz('deny-all', 'DENY', [{}])] });

  test("the mesh's own probe (GET of the configured path, from a mesh identity) is allowed even under DENY everything", () => {
    const a = compileOne(lockdown).authorizer;
    const d = a.authorize(req({ path: '/healthz' }));
    assert.equal(d.allowed, true);
    assert.equal(d.source, 'health-check');
    assert.equal(a.authorize(req({ path: '/healthz', method: 'POST' })).allowed, false, 'only GET');
    assert.equal(a.authorize(req({ path: '/healthz/x' })).allowed, false, 'only that path');
    assert.equal(a.authorize(req({ path: '/healthz', query: 'x=1' })).allowed, false, 'and its query');
    assert.equal(a.authorize(req({ path: '/healthz', peer: null })).allowed, false, 'only from a verified identity');
  });

  test('a configured query and a path in another spelling are compared as the probe is seen', () => {
    const a = compileOne(inbound({ defaultAction: 'deny', healthCheck: { httpPaths: ['/a/../%7Ehealth?deep=1'], grpc: false } })).authorizer;
    assert.equal(a.authorize(req({ path: '/~health', query: 'deep=1' })).source, 'health-check');
  });

  test('gRPC Health/Check is allowed when the port has a gRPC health check', () => {
    const a = compileOne(inbound({ defaultAction: 'deny', healthCheck: { httpPaths: [], grpc: true } })).authorizer;
    assert.equal(a.authorize(grpcReq('/grpc.health.v1.Health/Check')).allowed, true);
    assert.equal(a.authorize(grpcReq('/grpc.health.v1.Health/Watch')).allowed, false);
    assert.equal(compileOne(lockdown).authorizer.authorize(grpcReq('/grpc.health.v1.Health/Check')).allowed, false, 'not without a gRPC health check');
  });
});
