/**
 * Ingress TLS in a real mesh started by `trellis up` (docs/security.md, "Ingress TLS"): the
 * mesh file names PEM files in the mesh folder; an HTTP ingress listens both in plain text and
 * over TLS, a gRPC ingress over TLS only. HTTPS with undici trusting a test CA, gRPC over TLS
 * with @grpc/grpc-js (unary and server streaming), the ready line and `up`'s hint, and a
 * certificate replaced on disk that the running ingress proxy picks up.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import { testWebCa, type TestWebCa } from '../../src/proxy/testing/web-certs.js';
import { call, echoClient, type EchoClient, type EchoReply } from '../helpers/grpc-echo.js';
import { startMesh, type Mesh } from '../helpers/mesh.js';
import { spiffeId, TRUST_DOMAIN } from '../helpers/meshes.js';

const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-ingress-tls }
spec:
  trustDomain: ${TRUST_DOMAIN}
  certificateTTL: 1h
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  ingress:
    - name: web
      listen: 127.0.0.1:0
      service: page
      port: http
      tls:
        listen: 127.0.0.1:0
        certificates:
          - { cert: certs/shop.crt, key: certs/shop.key }
    - name: api
      service: echo
      port: grpc
      tls:
        certificates:
          - { cert: certs/api.crt, key: certs/api.key, hosts: [api.shop.test] }
  workloads:
    - name: echo
      command: [node, grpc-echo.mjs]
      ports: [{ name: grpc, protocol: grpc }]
    - name: page
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
`;

describe('ingress TLS in a mesh started by trellis up', () => {
  let mesh: Mesh | undefined;
  let ca: TestWebCa;
  let client: EchoClient | undefined;
  let agent: Agent | undefined;

  before(async () => {
    ca = await testWebCa();
    const shop = await ca.issue(['shop.test']);
    const api = await ca.issue(['api.shop.test']);
    mesh = await startMesh({
      meshYaml: MESH,
      files: { 'certs/shop.crt': shop.certPem, 'certs/shop.key': shop.keyPem, 'certs/api.crt': api.certPem, 'certs/api.key': api.keyPem },
    });
    agent = new Agent({ connect: { ca: ca.certPem, servername: 'shop.test' } });
    client = echoClient(Number(new URL(mesh.ingress['api.tls']!).port), { 'grpc.ssl_target_name_override': 'api.shop.test', 'grpc.default_authority': 'api.shop.test' }, grpc.credentials.createSsl(Buffer.from(ca.certPem)));
  });
  after(async () => {
    client?.close();
    await agent?.close();
    await mesh?.stop();
  });

  it('the ready line has the plain and the TLS listener of web, and only the TLS one of api', () => {
    assert.match(mesh!.ingress['web'] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(mesh!.ingress['web.tls'] ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(mesh!.ingress['api.tls'] ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(mesh!.ingress['api'], undefined);
  });

  it('HTTPS (undici, trusting the test CA) reaches the app, which sees x-forwarded-proto https; plain HTTP too', async () => {
    const res = await request(`${mesh!.ingress['web.tls']}/hello`, { dispatcher: agent! });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { path: string; headers: Record<string, string> };
    assert.equal(body.path, '/hello');
    assert.equal(body.headers['x-forwarded-proto'], 'https');
    assert.equal(body.headers['trellis-peer-identity'], spiffeId('web'));
    const plain = await request(`${mesh!.ingress['web']}/plain`);
    assert.equal(plain.statusCode, 200);
    const pb = (await plain.body.json()) as { headers: Record<string, string> };
    assert.equal(pb.headers['x-forwarded-proto'], 'http');
  });

  it('gRPC over TLS: a unary call and a server stream; the app sees the ingress identity', async () => {
    const { reply, error } = await call(client!, 'unary', 'over tls');
    assert.equal(error, null, error?.message);
    assert.equal(reply?.message, 'over tls');
    assert.equal(reply?.peerIdentity, spiffeId('api'));
    const replies = await new Promise<EchoReply[]>((resolve, reject) => {
      const got: EchoReply[] = [];
      const stream = client!.serverStream({ message: 'n', count: 3 }, { deadline: Date.now() + 20_000 });
      stream.on('data', (r: EchoReply) => got.push(r));
      stream.on('end', () => resolve(got));
      stream.on('error', reject);
    });
    assert.deepEqual(replies.map((r) => r.message), ['n-0', 'n-1', 'n-2']);
  });

  it("up's hint calls the TLS listeners by their certificate's name", () => {
    const { stderr } = mesh!.output();
    const web = new URL(mesh!.ingress['web.tls']!);
    const api = new URL(mesh!.ingress['api.tls']!);
    assert.ok(stderr.includes(`curl --resolve shop.test:${web.port}:127.0.0.1 https://shop.test:${web.port}/   (ingress web.tls, http over TLS)`), stderr);
    assert.ok(stderr.includes(`grpcurl -servername api.shop.test -proto <file>.proto ${api.host} <package.Service>/<Method>   (ingress api.tls, grpc over TLS)`), stderr);
  });

  it('a certificate replaced in the mesh folder is served to new connections by the running proxy', async () => {
    const next = await ca.issue(['shop.test']);
    await writeFile(join(mesh!.dir, 'certs/shop.crt'), next.certPem);
    await writeFile(join(mesh!.dir, 'certs/shop.key'), next.keyPem);
    const port = Number(new URL(mesh!.ingress['web.tls']!).port);
    let seen = '';
    for (let i = 0; i < 300 && seen !== next.serial; i++) {
      seen = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'shop.test', ca: ca.certPem }, () => {
          resolve(s.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '');
          s.destroy();
        });
        s.once('error', reject);
      });
      if (seen !== next.serial) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(seen, next.serial, 'the new certificate is served');
    const res = await request(`${mesh!.ingress['web.tls']}/after-reload`, { dispatcher: new Agent({ connect: { ca: ca.certPem, servername: 'shop.test' } }) });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  });
});
