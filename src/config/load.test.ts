import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageRoot } from '../util/paths.js';
import { ConfigError, loadMeshFile, parseMeshText } from './load.js';

const VALID = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
spec:
  trustDomain: shop.trellis.local
  certificateTTL: 10s
  controlPlane:
    api: 127.0.0.1:0
    push: 127.0.0.1:0
  ingress:
    - name: web
      listen: 127.0.0.1:0
      service: frontend
      port: http
  workloads:
    - name: frontend
      command: [node, frontend.mjs]
      replicas: 2
      env: { GREETING: hello, COUNT: 3 }
      ports:
        - name: http
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 2
      upstreams:
        - service: catalog-api
          port: grpc
    - name: catalog
      service: catalog-api
      command: [node, catalog.mjs]
      ports:
        - name: grpc
          protocol: grpc
        - name: admin-http
      upstreams:
        - service: frontend
          port: http
          env: FRONT
          listen: 127.0.0.1:7001
`;

/** Replaces line `n` (1-based) of VALID. */
function withLine(n: number, text: string): string {
  const lines = VALID.split('\n');
  lines[n - 1] = text;
  return lines.join('\n');
}

function issuesOf(text: string): string[] {
  try {
    parseMeshText(text, '/x/trellis.yaml', 'm.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'TRELLIS_E_CONFIG');
    return err.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
  }
  assert.fail('expected the mesh file to be rejected');
}

describe('mesh file: valid', () => {
  it('applies defaults and derives names', () => {
    const m = parseMeshText(VALID, '/x/trellis.yaml');
    assert.equal(m.name, 'shop');
    assert.equal(m.dir, '/x');
    assert.equal(m.namespace, 'default');
    assert.equal(m.certificateTtlMs, 10_000);
    assert.equal(m.drainTimeoutMs, 5000);
    assert.deepEqual(m.accessLog, { destination: 'file', maxBytes: 32 * 1024 * 1024, keep: 3 });
    assert.deepEqual(m.controlPlane.api, { host: '127.0.0.1', port: 0 });
    const [front, cat] = m.workloads;
    assert.ok(front && cat);
    assert.equal(front.service, 'frontend');
    assert.equal(front.serviceAccount, 'frontend');
    assert.deepEqual(front.env, { GREETING: 'hello', COUNT: '3' });
    assert.deepEqual(front.ports, [{ name: 'http', protocol: 'http', mtls: 'STRICT', appPort: null }]);
    assert.equal(m.lockAppPorts, false);
    assert.equal(front.hosts, null, 'no hosts: every host');
    assert.deepEqual(front.command, ['node', 'frontend.mjs']);
    assert.deepEqual(front.readiness, { httpGet: { path: '/healthz', port: 'http' }, periodMs: 2000, timeoutMs: 1000, failureThreshold: 3, startTimeoutMs: 30_000 });
    assert.deepEqual(front.upstreams, [
      { service: 'catalog-api', port: 'grpc', protocol: 'grpc', cluster: 'default/catalog-api:grpc', env: 'CATALOG_API_ADDR', listen: null },
    ]);
    assert.equal(cat.service, 'catalog-api');
    assert.equal(cat.serviceAccount, 'catalog-api');
    assert.equal(cat.readiness.httpGet, null);
    assert.equal(front.loadBalancer, 'peak-ewma', 'peak-EWMA unless a service asks otherwise');
    assert.deepEqual(cat.upstreams[0]?.listen, { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(m.ingress, [
      { name: 'web', listen: { host: '127.0.0.1', port: 0 }, tls: null, service: 'frontend', port: 'http', protocol: 'http', cluster: 'default/frontend:http', hosts: null },
    ]);
  });
});

describe('mesh file: errors name file, line, column and field', () => {
  it('unknown field points at its key', () => {
    assert.deepEqual(issuesOf(withLine(7, '  certificateTTL: 10s\n  bogus: 1')), ['8:3 spec.bogus: unknown field']);
  });
  it('unknown field deep inside a list', () => {
    assert.deepEqual(issuesOf(withLine(22, '        - name: http\n          protcol: http')), ['23:11 spec.workloads[0].ports[0].protcol: unknown field']);
  });
  it('bad enum value', () => {
    assert.deepEqual(issuesOf(withLine(34, '          protocol: grcp')), [
      '34:21 spec.workloads[1].ports[0].protocol: expected one of http, http2, grpc, tcp',
    ]);
  });
  it('unknown load balancer', () => {
    assert.deepEqual(issuesOf(withLine(40, '          listen: 127.0.0.1:7001\n      loadBalancer: random')), [
      '41:21 spec.workloads[1].loadBalancer: expected one of peak-ewma, round-robin',
    ]);
  });
  it('round robin on request', () => {
    const m = parseMeshText(withLine(40, '          listen: 127.0.0.1:7001\n      loadBalancer: round-robin'), '/x/trellis.yaml');
    assert.equal(m.workloads[1]?.loadBalancer, 'round-robin');
  });
  it('bad duration', () => {
    assert.deepEqual(issuesOf(withLine(7, '  certificateTTL: 10 seconds')), ['7:19 spec.certificateTTL: expected a duration such as 500ms, 10s, 5m, 24h']);
  });
  it('a certificate TTL under 1s is refused with the reason; 1s is the shortest accepted', () => {
    assert.deepEqual(issuesOf(withLine(7, '  certificateTTL: 999ms')), [
      "7:19 spec.certificateTTL: must be at least 1s, got 999ms: certificate validity has one-second resolution (X.509), and every proxy renews at about half its certificate's life",
    ]);
    assert.equal(parseMeshText(withLine(7, '  certificateTTL: 1s'), '/x/trellis.yaml').certificateTtlMs, 1000);
  });
  it('bad host:port', () => {
    assert.deepEqual(issuesOf(withLine(9, '    api: localhost')), ['9:10 spec.controlPlane.api: expected host:port (e.g. 127.0.0.1:8080; port 0 picks a free port)']);
  });
  it('bad name', () => {
    assert.match(issuesOf(withLine(17, '    - name: Front_End'))[0] ?? '', /^17:13 spec\.workloads\[0\]\.name: expected a lower-case DNS label/);
  });
  it('replicas out of range', () => {
    assert.deepEqual(issuesOf(withLine(19, '      replicas: 65')), ['19:17 spec.workloads[0].replicas: must be at most 64']);
    assert.deepEqual(issuesOf(withLine(19, '      replicas: 0')), ['19:17 spec.workloads[0].replicas: must be at least 1']);
  });
  it('missing required field points at its parent', () => {
    assert.deepEqual(issuesOf(withLine(14, '')), ['12:7 spec.ingress[0].service: required']);
  });
  it('wrong type', () => {
    assert.deepEqual(issuesOf(withLine(18, '      command: node frontend.mjs')), ['18:16 spec.workloads[0].command: expected a list, got string "node frontend.mjs"']);
  });
  it('duplicate workload name', () => {
    assert.deepEqual(issuesOf(withLine(29, '    - name: frontend')), ['29:13 spec.workloads[1].name: duplicate name "frontend" (already used by spec.workloads[0])']);
  });
  it('duplicate ingress name (ingress and workloads share names)', () => {
    assert.deepEqual(issuesOf(withLine(12, '    - name: catalog')), ['12:13 spec.ingress[0].name: duplicate name "catalog" (already used by spec.workloads[1])']);
  });
  it('duplicate port name', () => {
    assert.deepEqual(issuesOf(withLine(35, '        - name: grpc')), ['35:17 spec.workloads[1].ports[1].name: duplicate port name "grpc"']);
  });
  it('upstream to an unknown service', () => {
    assert.deepEqual(issuesOf(withLine(27, '        - service: catalog')), [
      '27:20 spec.workloads[0].upstreams[0].service: unknown service "catalog" (declared services: frontend, catalog-api)',
    ]);
  });
  it('upstream to an unknown port', () => {
    assert.deepEqual(issuesOf(withLine(28, '          port: http')), [
      '28:17 spec.workloads[0].upstreams[0].port: service "catalog-api" has no port "http" (its ports: grpc, admin-http)',
    ]);
  });
  it('ingress to an unknown port', () => {
    assert.deepEqual(issuesOf(withLine(15, '      port: grpc')), ['15:13 spec.ingress[0].port: service "frontend" has no port "grpc" (its ports: http)']);
  });
  it('upstream listen needs replicas 1', () => {
    assert.deepEqual(issuesOf(withLine(31, '      command: [node, catalog.mjs]\n      replicas: 2')), [
      '41:19 spec.workloads[1].upstreams[0].listen: a fixed listen address needs replicas: 1 (this workload has 2)',
    ]);
  });
  it('several errors at once, in file order', () => {
    const text = withLine(34, '          protocol: grcp').replace('certificateTTL: 10s', 'certificateTTL: soon');
    assert.deepEqual(issuesOf(text), [
      '7:19 spec.certificateTTL: expected a duration such as 500ms, 10s, 5m, 24h',
      '34:21 spec.workloads[1].ports[0].protocol: expected one of http, http2, grpc, tcp',
    ]);
  });
  it('YAML syntax error has a line', () => {
    const issues = issuesOf(withLine(20, '      env: { GREETING: hello'));
    assert.equal(issues.length >= 1, true);
    assert.match(issues[0] ?? '', /^\d+:\d+ : YAML: /);
  });
  it('duplicate YAML key', () => {
    assert.match(issuesOf(withLine(19, '      replicas: 2\n      replicas: 3'))[0] ?? '', /^20:7 : YAML: Map keys must be unique/);
  });
  it('empty file', () => {
    assert.deepEqual(issuesOf(''), ['1:1 : expected a mapping, got null']);
  });
  it('the error describes itself as file:line:col: path: message', () => {
    try {
      parseMeshText(withLine(19, '      replicas: 65'), '/x/trellis.yaml', 'examples/shop/trellis.yaml');
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.describe(), 'examples/shop/trellis.yaml:19:17: spec.workloads[0].replicas: must be at most 64');
    }
  });
});

describe('mesh file: spec.tracing', () => {
  /** VALID with a tracing block after line 7 (certificateTTL); the block starts on line 8. */
  const withTracing = (block: string): string => withLine(7, `  certificateTTL: 10s\n  tracing:\n${block}`);

  it('absent: on, 1% of new traces, to the control plane itself', () => {
    assert.deepEqual(parseMeshText(VALID, '/x/trellis.yaml').tracing, { samplingRatio: 0.01, collector: null });
  });
  it('sampling and collector as written', () => {
    const m = parseMeshText(withTracing('    sampling: 0.25\n    collector: http://127.0.0.1:4318/v1/traces'), '/x/trellis.yaml');
    assert.deepEqual(m.tracing, { samplingRatio: 0.25, collector: 'http://127.0.0.1:4318/v1/traces' });
  });
  it('an empty block takes the defaults; sampling 0 and 1 are allowed', () => {
    assert.deepEqual(parseMeshText(withLine(7, '  certificateTTL: 10s\n  tracing: {}'), '/x/trellis.yaml').tracing, { samplingRatio: 0.01, collector: null });
    assert.equal(parseMeshText(withTracing('    sampling: 0'), '/x/trellis.yaml').tracing?.samplingRatio, 0);
    assert.equal(parseMeshText(withTracing('    sampling: 1'), '/x/trellis.yaml').tracing?.samplingRatio, 1);
  });
  it('enabled: false turns it off', () => {
    assert.equal(parseMeshText(withTracing('    enabled: false\n    sampling: 0.5'), '/x/trellis.yaml').tracing, null);
  });
  it('sampling out of range or not a number', () => {
    assert.deepEqual(issuesOf(withTracing('    sampling: 1.5')), ['9:15 spec.tracing.sampling: must be at most 1']);
    assert.deepEqual(issuesOf(withTracing('    sampling: -0.1')), ['9:15 spec.tracing.sampling: must be at least 0']);
    assert.match(issuesOf(withTracing('    sampling: 1%'))[0] ?? '', /^9:15 spec\.tracing\.sampling: expected a number/);
  });
  it('collector must be an http(s) URL', () => {
    for (const bad of ['127.0.0.1:4318', 'grpc://collector:4317', 'http://']) {
      assert.deepEqual(issuesOf(withTracing(`    collector: ${bad}`)), [
        '9:16 spec.tracing.collector: expected an http:// or https:// URL (e.g. http://127.0.0.1:4318/v1/traces)',
      ], bad);
    }
  });
  it('unknown field and wrong type', () => {
    assert.deepEqual(issuesOf(withTracing('    ratio: 0.5')), ['9:5 spec.tracing.ratio: unknown field']);
    assert.deepEqual(issuesOf(withTracing('    enabled: yes please')), ['9:14 spec.tracing.enabled: expected boolean, got string "yes please"']);
  });
});

describe('mesh file: spec.accessLog', () => {
  /** VALID with an accessLog line (or block) after line 7 (certificateTTL); it starts on line 8. */
  const withAccessLog = (text: string): string => withLine(7, `  certificateTTL: 10s\n  accessLog:${text}`);
  const parsed = (text: string): unknown => parseMeshText(withAccessLog(text), '/x/trellis.yaml').accessLog;

  it('the short form takes the rotation defaults', () => {
    assert.deepEqual(parsed(' stdout'), { destination: 'stdout', maxBytes: 32 * 1024 * 1024, keep: 3 });
    assert.deepEqual(parsed(' "off"'), { destination: 'off', maxBytes: 32 * 1024 * 1024, keep: 3 });
  });
  it('the long form: destination, maxSize with a unit or in bytes, keep', () => {
    assert.deepEqual(parsed('\n    maxSize: 10MiB\n    keep: 5'), { destination: 'file', maxBytes: 10 * 1024 * 1024, keep: 5 });
    assert.deepEqual(parsed('\n    destination: stdout\n    maxSize: 4096\n    keep: 0'), { destination: 'stdout', maxBytes: 4096, keep: 0 });
    assert.deepEqual(parsed(' {}'), { destination: 'file', maxBytes: 32 * 1024 * 1024, keep: 3 });
  });
  it('bad values name the field', () => {
    const sizeError = '9:14 spec.accessLog.maxSize: expected a size of at least 1KiB, such as 32MiB, 500KB or a number of bytes';
    assert.deepEqual(issuesOf(withAccessLog('\n    maxSize: 10 megs')), [sizeError]);
    assert.deepEqual(issuesOf(withAccessLog('\n    maxSize: 100')), [sizeError]);
    assert.deepEqual(issuesOf(withAccessLog('\n    keep: 101')), ['9:11 spec.accessLog.keep: must be at most 100']);
    assert.deepEqual(issuesOf(withAccessLog('\n    rotate: true')), ['9:5 spec.accessLog.rotate: unknown field']);
  });
  it('an unknown short form lists what is accepted', () => {
    assert.deepEqual(issuesOf(withAccessLog(' syslog')), ['8:14 spec.accessLog: expected one of off, stdout, file, or {destination, maxSize, keep}']);
  });
});

describe('mesh file: mTLS modes and lockAppPorts', () => {
  /** VALID with a spec.mtls block after line 7 (certificateTTL): it starts on line 8. */
  const withMtls = (text: string): string => withLine(7, `  certificateTTL: 10s\n  mtls:${text}`);
  const modes = (text: string): string[][] => parseMeshText(text, '/x/trellis.yaml').workloads.map((w) => w.ports.map((p) => `${p.name}=${p.mtls}`));

  it('a port takes its own mode, else its workload\'s, else the mesh\'s', () => {
    assert.deepEqual(modes(VALID), [['http=STRICT'], ['grpc=STRICT', 'admin-http=STRICT']]);
    assert.deepEqual(modes(withMtls('\n    mode: PERMISSIVE')), [['http=PERMISSIVE'], ['grpc=PERMISSIVE', 'admin-http=PERMISSIVE']]);
    // line 31 is the catalog workload's `command`, line 34 its grpc port's protocol
    const perWorkload = withLine(31, '      command: [node, catalog.mjs]\n      mtls: PERMISSIVE');
    assert.deepEqual(modes(perWorkload), [['http=STRICT'], ['grpc=PERMISSIVE', 'admin-http=PERMISSIVE']]);
    const perPort = withLine(34, '          protocol: grpc\n          mtls: STRICT').replace('catalog.mjs]\n', 'catalog.mjs]\n      mtls: PERMISSIVE\n');
    assert.deepEqual(modes(perPort), [['http=STRICT'], ['grpc=STRICT', 'admin-http=PERMISSIVE']]);
  });
  it('lockAppPorts is off unless asked for', () => {
    assert.equal(parseMeshText(withMtls('\n    lockAppPorts: true'), '/x/trellis.yaml').lockAppPorts, true);
    assert.equal(parseMeshText(withMtls(' {}'), '/x/trellis.yaml').lockAppPorts, false);
  });
  it('bad values name file position and field', () => {
    assert.deepEqual(issuesOf(withMtls('\n    mode: strict')), ['9:11 spec.mtls.mode: expected STRICT or PERMISSIVE']);
    assert.deepEqual(issuesOf(withMtls('\n    lockAppPorts: yes please')), ['9:19 spec.mtls.lockAppPorts: expected boolean, got string "yes please"']);
    assert.deepEqual(issuesOf(withMtls('\n    lockdown: true')), ['9:5 spec.mtls.lockdown: unknown field']);
    assert.deepEqual(issuesOf(withLine(22, '        - name: http\n          mtls: OFF')), ['23:17 spec.workloads[0].ports[0].mtls: expected STRICT or PERMISSIVE']);
  });
});

describe('docs/mesh-file.md: the mTLS example', () => {
  const md = readFileSync(join(packageRoot, 'docs', 'mesh-file.md'), 'utf8');
  const section = md.slice(md.indexOf('## mTLS modes and the plaintext bypass'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const documentedError = /```\n(trellis: .*)\n```/.exec(section)?.[1] ?? '';

  it('parses, with the modes its comments say', () => {
    const m = parseMeshText(example, '/x/trellis.yaml');
    assert.equal(m.lockAppPorts, true);
    assert.deepEqual(
      m.workloads.map((w) => w.ports.map((p) => `${w.name}:${p.name}=${p.mtls}`)),
      [['legacy-billing:http=PERMISSIVE', 'legacy-billing:admin=STRICT'], ['orders:grpc=STRICT']],
    );
  });
  it('a bad mode gives the error the page shows', () => {
    const bad = example.replace('mtls: PERMISSIVE ', 'mtls: permissive ');
    assert.notEqual(bad, example);
    assert.throws(() => parseMeshText(bad, 'trellis.yaml'), (err: ConfigError) => `trellis: ${err.describe()}` === documentedError);
  });
});

describe('loadMeshFile', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-config-'));
    await writeFile(join(dir, 'trellis.yaml'), VALID);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('reads trellis.yaml from a folder', async () => {
    const m = await loadMeshFile(dir);
    assert.equal(m.file, join(dir, 'trellis.yaml'));
    assert.equal(m.workloads.length, 2);
  });
  it('a missing file is a config error', async () => {
    await assert.rejects(loadMeshFile(join(dir, 'nope.yaml')), (err: ConfigError) => err.code === 'TRELLIS_E_CONFIG' && /no such file/.test(err.message));
  });
});
