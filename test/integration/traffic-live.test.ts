/**
 * Config changes on a running mesh: a canary moved 0 -> 100 % under load with zero failed
 * requests; a WebSocket, a gRPC bidi stream and a keep-alive connection that stay open across
 * ten config pushes while new requests see the new routes; invalid resources rejected whole
 * with the running config unchanged.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';
import { useTrafficMesh, weightedRoute } from '../helpers/traffic-mesh.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import { echoClient, type EchoClient, type EchoReply } from '../helpers/grpc-echo.js';

const split = (v1: number, v2: number): string => weightedRoute('HTTPRoute', 'canary', 'echo', [['echo-v1', v1], ['echo-v2', v2]]);
const grpcSplit = (v1: number, v2: number): string =>
  weightedRoute('GRPCRoute', 'grpc-canary', 'grpc-echo', [['grpc-echo', v1], ['grpc-echo-v2', v2]]);

describe('live configuration changes', () => {
  const tm = useTrafficMesh();
  let grpcClient: EchoClient;

  before(() => {
    grpcClient = echoClient(tm.ports.grpc);
  });
  after(() => grpcClient.close());
  afterEach(async () => {
    await tm.clear();
  });

  test('a canary moves from 0 to 100 percent under load with zero failed requests', async () => {
    await tm.apply(split(100, 0));
    const served = new Map<string, number>();
    const get = httpGetOutcome(`http://127.0.0.1:${tm.ports.echo}/canary`, tm.agent, (body) => {
      const w = (JSON.parse(body) as { workload: string }).workload;
      served.set(w, (served.get(w) ?? 0) + 1);
      return true;
    });
    const load = loadLoop(get, { concurrency: 8 });
    try {
      await load.waitForOk(200);
      for (const [v1, v2] of [[90, 10], [75, 25], [50, 50], [25, 75], [0, 100]] as const) {
        await tm.apply(split(v1, v2));
        await load.waitForOk(200);
      }
      served.clear();
      await load.waitForOk(200);
    } finally {
      const stats = await load.stop();
      assert.equal(stats.failed, 0, `failed requests during the roll-out:\n${describeFailures(stats)}`);
      assert.ok(stats.ok > 1000, `load ran (${stats.ok} ok)`);
    }
    assert.deepEqual([...served.keys()], ['echo-v2'], 'after the last step only v2 serves');
  });

  test('a WebSocket, a gRPC stream and a keep-alive connection stay open across ten config pushes', async () => {
    await tm.apply(split(50, 50) + '---\n' + grpcSplit(50, 50));

    const ws = new WebSocket(`ws://127.0.0.1:${tm.ports.echo}/ws`);
    let wsClosed = false;
    ws.on('close', () => (wsClosed = true));
    const wsMessages: string[] = [];
    const wsWaiters: (() => void)[] = [];
    ws.on('message', (data) => {
      wsMessages.push(String(data));
      wsWaiters.shift()?.();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const wsHello = new Promise<void>((resolve) => (wsMessages.length > 0 ? resolve() : wsWaiters.push(resolve)));
    await wsHello;

    const stream = grpcClient.bidi({});
    let streamError: Error | null = null;
    stream.on('error', (err: Error) => (streamError = err));
    const replies: EchoReply[] = [];
    const replyWaiters: (() => void)[] = [];
    stream.on('data', (r: EchoReply) => {
      replies.push(r);
      replyWaiters.shift()?.();
    });
    const ping = async (i: number): Promise<void> => {
      const answered = new Promise<void>((resolve) => replyWaiters.push(resolve));
      stream.write({ message: `ping${i}` });
      await answered;
      assert.equal(replies[i]?.message, `PING${i}`);
    };

    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const keepAlivePorts = new Set<number>();
    const kaGet = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: tm.ports.echo, path: '/ka', agent: keepAlive }, (res) => {
          keepAlivePorts.add(req.socket?.localPort ?? -1);
          let body = '';
          res.on('data', (c: Buffer) => (body += String(c)));
          res.on('end', () => resolve(String(res.headers['x-echo-workload'])));
        });
        req.on('error', reject);
      });

    try {
      await ping(0);
      await kaGet();
      const weights: [number, number][] = [[100, 0], [0, 100]];
      for (let push = 1; push <= 10; push++) {
        const [v1, v2] = weights[push % 2] as [number, number];
        await tm.apply(split(v1, v2) + '---\n' + grpcSplit(v1, v2));
        // The old connections carry on...
        const wsAnswered = new Promise<void>((resolve) => wsWaiters.push(resolve));
        ws.send(`msg${push}`);
        await wsAnswered;
        assert.equal(wsMessages.at(-1), `msg${push}`);
        await ping(push);
        // ...and new requests see the new routes, on the same keep-alive connection.
        assert.equal(await kaGet(), v1 === 100 ? 'echo-v1' : 'echo-v2', `push ${push}`);
      }
      assert.equal(wsClosed, false, 'the WebSocket stayed open');
      assert.equal(streamError, null, 'the gRPC stream saw no error');
      assert.equal(keepAlivePorts.size, 1, 'every keep-alive request used the same connection');
    } finally {
      stream.end();
      ws.close();
      keepAlive.destroy();
    }
  });

  test('an invalid resource is rejected whole and the running config stays', async () => {
    await tm.apply(split(0, 100));
    const before = await tm.configVersion();
    const rejected = await tm.applyRejected(
      split(100, 0) +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: broken
spec:
  parentRefs:
    - name: echo
  rules:
    - matches:
        - path: { type: PathPrefix, value: no-leading-slash }
      backendRefs:
        - name: echo-v1
          port: 80
`,
    );
    assert.equal(rejected.code, 3, rejected.stderr);
    assert.match(rejected.stderr, /resource-\d+\.yaml:\d+:\d+: HTTPRoute\/broken: spec\.rules\[0\]\.matches\[0\]\.path\.value: must be an absolute path/);
    assert.equal(await tm.configVersion(), before, 'no new config was pushed');
    for (let i = 0; i < 10; i++) {
      const r = await tm.send(tm.ports.echo, '/still');
      assert.equal(r.headers['x-echo-workload'], 'echo-v2', 'the valid half of the rejected file was not applied either');
    }
  });
});
