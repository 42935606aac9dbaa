import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InboundPolicyConfig } from '../../../api/snapshot.js';
import { silentLogger } from '../../../telemetry/logger.js';
import { PolicyTable } from '../../policy/policy-table.js';
import { authz, compileOne, CountingCounters, inbound, who } from '../../policy/test-helpers.js';
import { TcpAuthorization, tcpConnectionRequest } from './tcp.js';

const tcp = (over: Partial<InboundPolicyConfig>): InboundPolicyConfig => inbound({ port: 'db', ...over });

describe('authorizing a TCP connection', () => {
  test('a DENY naming only callers covers the connection; an ALLOW naming only callers lets it in', () => {
    const p = compileOne(tcp({ defaultAction: 'deny', authorization: [authz('no-batch', 'DENY', [{ from: [{ source: { principals: [who('batch')] } }] }]), authz('web-in', 'ALLOW', [{ from: [{ source: { principals: [who('web')] } }] }])] }));
    assert.equal(p.authorizer.authorize(tcpConnectionRequest(who('batch'))).label, 'shop/no-batch');
    assert.equal(p.authorizer.authorize(tcpConnectionRequest(who('web'))).allowed, true);
    assert.equal(p.authorizer.authorize(tcpConnectionRequest(who('other'))).label, 'default');
    assert.equal(p.authorizer.authorize(tcpConnectionRequest(who('other'))).allowed, false);
  });

  test('HTTP-only fields (paths, methods, gRPC, headers): ignored by a DENY (it denies more), never met by an ALLOW', () => {
    const p = compileOne(
      tcp({
        defaultAction: 'deny',
        authorization: [
          authz('deny-admin', 'DENY', [{ from: [{ source: { principals: [who('batch')] } }], to: [{ operation: { paths: ['/admin'] } }] }]),
          authz('deny-hdr', 'DENY', [{ from: [{ source: { principals: [who('ops')] } }], when: [{ header: 'x-env', values: ['prod'] }] }]),
          authz('allow-get', 'ALLOW', [{ to: [{ operation: { methods: ['GET'] } }] }]),
          authz('allow-not-admin', 'ALLOW', [{ to: [{ operation: { notPaths: ['/admin'] } }] }]),
          authz('allow-env', 'ALLOW', [{ when: [{ header: 'x-env', notValues: ['prod'] }] }]),
        ],
      }),
    );
    assert.equal(p.authorizer.authorize(tcpConnectionRequest(who('batch'))).label, 'shop/deny-admin', 'a path cannot be checked on TCP: the DENY covers the whole connection');
    assert.equal(p.authorizer.authorize(tcpConnectionRequest(who('ops'))).label, 'shop/deny-hdr');
    const web = p.authorizer.authorize(tcpConnectionRequest(who('web')));
    assert.deepEqual([web.allowed, web.label], [false, 'default'], 'no ALLOW with HTTP-only fields lets a connection in, not even a notPaths one');
  });
});

describe('TcpAuthorization', () => {
  const setup = (c: InboundPolicyConfig[] | undefined): { table: PolicyTable; guard: TcpAuthorization; counters: CountingCounters; apply: (c: InboundPolicyConfig[] | undefined) => void } => {
    const counters = new CountingCounters();
    const table = new PolicyTable({ counters });
    const apply = (x: InboundPolicyConfig[] | undefined): void => {
      const p = table.prepare(x);
      assert.ok(p.ok);
      p.commit();
    };
    apply(c);
    return { table, guard: new TcpAuthorization(table, 'db', silentLogger()), counters, apply };
  };

  test('no policies on the port: no decision, nothing counted', () => {
    const { guard } = setup(undefined);
    assert.equal(guard.decide(who('web')), null);
  });

  test('a connection is decided and counted at accept; AUDIT matches are counted', () => {
    const { guard, counters } = setup([tcp({ authorization: [authz('watch', 'AUDIT', [{}]), authz('no-batch', 'DENY', [{ from: [{ source: { principals: [who('batch')] } }] }])] })]);
    assert.equal(guard.decide(who('batch'))?.allowed, false);
    assert.equal(guard.decide(who('web'))?.allowed, true);
    assert.equal(counters.get('shop/no-batch|denied'), 1);
    assert.equal(counters.get('default|allowed'), 1);
    assert.equal(counters.get('shop/watch|audited'), 2);
  });

  test('a new policy resets exactly the open connections it denies, once; closed ones are forgotten', () => {
    const { guard, counters, apply } = setup([tcp({})]);
    const resets: string[] = [];
    const untrackWeb = guard.track({}, who('web'), () => resets.push('web'));
    guard.track({}, who('batch'), (d) => resets.push(`batch by ${d.label}`));
    const gone = guard.track({}, who('gone'), () => resets.push('gone'));
    gone();
    assert.equal(guard.size, 2);
    apply([tcp({ authorization: [authz('no-batch', 'DENY', [{ from: [{ source: { principals: [who('batch')] } }] }])] })]);
    assert.deepEqual(resets, ['batch by shop/no-batch']);
    assert.equal(counters.get('shop/no-batch|denied'), 1);
    assert.equal(guard.size, 1, 'the reset connection is no longer watched');
    apply([tcp({ defaultAction: 'deny' })]);
    assert.deepEqual(resets, ['batch by shop/no-batch', 'web']);
    untrackWeb();
    guard.close();
    apply([tcp({})]);
    assert.equal(resets.length, 2, 'a closed guard watches nothing');
  });
});
