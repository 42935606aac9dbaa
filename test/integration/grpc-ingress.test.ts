/**
 * gRPC from outside the mesh through an ingress (docs/traffic.md, "gRPC from outside the
 * mesh"): a @grpc/grpc-js client with plaintext credentials -> the ingress (h2c) -> mTLS ->
 * the service's proxy -> grpc-echo. Unary and server streaming; the app sees the ingress's
 * identity; `up` suggests grpcurl for the grpc ingress (curl for an http one).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, echoClient, type EchoClient, type EchoReply } from '../helpers/grpc-echo.js';
import { startMesh, type Mesh } from '../helpers/mesh.js';
import { spiffeId, TRUST_DOMAIN } from '../helpers/meshes.js';

const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-grpc-ingress }
spec:
  trustDomain: ${TRUST_DOMAIN}
  certificateTTL: 1h
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  ingress:
    - { name: api, listen: 127.0.0.1:0, service: echo, port: grpc }
    - { name: web, listen: 127.0.0.1:0, service: page, port: http }
  workloads:
    - name: echo
      command: [node, grpc-echo.mjs]
      ports: [{ name: grpc, protocol: grpc }]
    - name: page
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
`;

describe('gRPC through an ingress', () => {
  let mesh: Mesh | undefined;
  let client: EchoClient | undefined;

  before(async () => {
    mesh = await startMesh({ meshYaml: MESH });
    client = echoClient(Number(new URL(mesh.ingress['api']!).port));
  });
  after(async () => {
    client?.close();
    await mesh?.stop();
  });

  it('unary: a plaintext (h2c) client gets the reply; the app sees the ingress identity', async () => {
    const { reply, error } = await call(client!, 'unary', 'from outside');
    assert.equal(error, null, error?.message);
    assert.equal(reply?.message, 'from outside');
    assert.equal(reply?.peerIdentity, spiffeId('api'));
  });

  it('server streaming arrives whole', async () => {
    const replies = await new Promise<EchoReply[]>((resolve, reject) => {
      const got: EchoReply[] = [];
      const stream = client!.serverStream({ message: 'n', count: 3 }, { deadline: Date.now() + 20_000 });
      stream.on('data', (r: EchoReply) => got.push(r));
      stream.on('end', () => resolve(got));
      stream.on('error', reject);
    });
    assert.deepEqual(replies.map((r) => r.message), ['n-0', 'n-1', 'n-2']);
  });

  it("up's banner suggests grpcurl for the grpc ingress and curl for the http one", () => {
    const { stderr } = mesh!.output();
    const api = new URL(mesh!.ingress['api']!);
    assert.ok(stderr.includes(`grpcurl -plaintext -proto <file>.proto ${api.host} <package.Service>/<Method>   (ingress api, grpc)`), stderr);
    assert.ok(stderr.includes(`curl ${mesh!.ingress['web']}/   (ingress web, http)`), stderr);
    assert.ok(!stderr.includes(`curl ${mesh!.ingress['api']}`), stderr);
  });
});
