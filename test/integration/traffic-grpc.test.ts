/**
 * GRPCRoute through real proxies: routing by service and method, retries on gRPC status codes
 * (GRPCRoute annotations), deadlines: the caller's grpc-timeout travels on reduced and the
 * route's timeout ends calls with DEADLINE_EXCEEDED.
 */
import { afterEach, after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { serviceRoute, useTrafficMesh } from '../helpers/traffic-mesh.js';
import { call, echoClient, type EchoClient } from '../helpers/grpc-echo.js';

const grpcRoute = (name: string, rules: string, annotations = ''): string => serviceRoute('GRPCRoute', name, 'grpc-echo', rules, annotations);

const TO_V1 = `      backendRefs:
        - name: grpc-echo
          port: 80`;

describe('GRPCRoute through the mesh', () => {
  const tm = useTrafficMesh();
  let client: EchoClient;

  before(() => {
    client = echoClient(tm.ports.grpc);
  });
  after(() => client.close());
  afterEach(async () => {
    await tm.clear();
  });

  test('routes by service and method', async () => {
    await tm.apply(
      grpcRoute(
        'by-method',
        `    - matches:
        - method: { service: echo.Echo, method: Unary }
      backendRefs:
        - name: grpc-echo-v2
          port: 80
    - matches:
        - method: { type: RegularExpression, service: "echo\\\\..*", method: "Fl.*" }
      backendRefs:
        - name: grpc-echo-v2
          port: 80
    - ${TO_V1.trimStart()}`,
      ),
    );
    for (let i = 0; i < 5; i++) {
      const unary = await call(client, 'unary', 'x');
      assert.equal(unary.error, null);
      assert.equal(unary.reply?.metadata['x-served-by'], 'grpc-echo-v2');
      const flaky = await call(client, 'flaky', `never-fails-${i}:0`);
      assert.equal(flaky.reply?.metadata['x-served-by'], 'grpc-echo-v2');
    }
    // Missing -> grpc-echo (rule 3): its error comes back intact.
    const missing = await call(client, 'missing', 'thing');
    assert.equal(missing.error?.code, grpc.status.NOT_FOUND);
  });

  test('retries on listed gRPC codes, within attempts', async () => {
    await tm.apply(
      grpcRoute(
        'retries',
        `    - ${TO_V1.trimStart()}`,
        `    retry.trellis.dev/grpc-codes: unavailable
    retry.trellis.dev/attempts: "2"
    retry.trellis.dev/backoff: 10ms`,
      ),
    );
    const tag = `g${Date.now()}`;
    const ok = await call(client, 'flaky', `${tag}-a:2`);
    assert.equal(ok.error, null, ok.error?.message);
    assert.equal(ok.reply?.message, 'ok after 3');
    const exhausted = await call(client, 'flaky', `${tag}-b:5`);
    assert.equal(exhausted.error?.code, grpc.status.UNAVAILABLE);
    assert.equal(exhausted.error?.details, 'flaky 3');
    const notListed = await call(client, 'missing', 'x');
    assert.equal(notListed.error?.code, grpc.status.NOT_FOUND);
  });

  test('deadlines: the caller\'s grpc-timeout goes on reduced, the route timeout ends the call', async () => {
    await tm.apply(grpcRoute('plain', `    - ${TO_V1.trimStart()}`));
    const seen = await call(client, 'slow', '0', { deadline: Date.now() + 5_000 });
    assert.equal(seen.error, null);
    const remaining = Number(/^deadline-ms:(\d+)$/.exec(seen.reply?.message ?? '')?.[1]);
    assert.ok(remaining > 0 && remaining <= 5_000, `the app saw a deadline of ${seen.reply?.message}`);

    await tm.apply(
      grpcRoute('plain', `    - ${TO_V1.trimStart()}`, `    timeout.trellis.dev/request: 300ms`),
    );
    const timedOut = await call(client, 'slow', '5000', {});
    assert.equal(timedOut.error?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.deepEqual(timedOut.error?.metadata.get('trellis-reason'), ['request-timeout']);
  });
});
