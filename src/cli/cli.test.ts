import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { CheckReport, EndpointView, ProxyView, ServiceView, WorkloadView } from '../api/registry.js';
import { ExitCode } from '../errors.js';
import { cliEntry } from '../util/paths.js';
import { render } from './commands/get.js';
import { readyLine, tryCommand, upBanner } from './commands/up.js';
import { parseMeshText } from '../config/load.js';
import { captureIo, type CapturedIo } from './test-support.js';
import { runCli } from './run.js';

// A fixture server with fixed API answers: for output formatting and exit codes only.
const SERVICES: ServiceView[] = [
  { namespace: 'default', name: 'catalog', identity: 'spiffe://t.local/ns/default/sa/catalog', ports: [{ name: 'http', protocol: 'http' }], endpointsReady: 2, endpointsTotal: 2 },
  { namespace: 'default', name: 'orders', identity: 'spiffe://t.local/ns/default/sa/orders', ports: [{ name: 'grpc', protocol: 'grpc' }], endpointsReady: 0, endpointsTotal: 1 },
];
const replica = (n: number, state: 'ready' | 'unhealthy', adminUrl: string): WorkloadView['replicas'][number] => ({
  replica: n, nodeId: `default/catalog/${n}`, state, restarts: n, appPid: 10 + n, proxyPid: 20 + n, adminUrl, endpoints: [], lastExit: null,
});
let adminUrl = '';
const workloads = (): WorkloadView[] => [
  {
    namespace: 'default', name: 'catalog', service: 'catalog', serviceAccount: 'catalog', ports: [{ name: 'http', protocol: 'http' }], upstreams: [], ingress: false,
    replicas: [replica(0, 'ready', adminUrl), replica(1, 'unhealthy', adminUrl)], agentId: 'host-a', identity: 'spiffe://t.local/ns/default/sa/catalog',
  },
];
const ENDPOINTS: EndpointView[] = [
  { namespace: 'default', service: 'catalog', port: 'http', protocol: 'http', host: '127.0.0.1', portNumber: 40001, workload: 'catalog', replica: 0, nodeId: 'default/catalog/0', identity: 'x', ready: true },
  { namespace: 'default', service: 'catalog', port: 'http', protocol: 'http', host: '127.0.0.1', portNumber: 40002, workload: 'catalog', replica: 1, nodeId: 'default/catalog/1', identity: 'x', ready: false },
];
const PROXIES: ProxyView[] = [
  { nodeId: 'default/catalog/0', identity: 'x', connected: true, version: 4, ackedVersion: 4, nack: null, certNotAfter: null, certSerial: null, tlsHandshakes: 12, tlsFailures: 0, peersVerified: 3, adminUrl: 'http://127.0.0.1:1', lastSeen: null },
];
let check: CheckReport = { ok: true, checks: [{ name: 'proxies connected', ok: true, detail: '2 of 2' }, { name: 'certificates valid', ok: true, detail: 'all valid' }] };

const capture = (cwd = tmpdir(), env: Record<string, string | undefined> = {}): CapturedIo => captureIo({ cwd, env });

describe('cli: usage', () => {
  it('no command: usage on stderr, exit 2', async () => {
    const io = capture();
    assert.equal(await runCli([], io), ExitCode.Usage);
    assert.match(io.stderr, /^Usage: trellis <command>/);
    assert.equal(io.stdout, '');
  });
  it('--help: usage on stdout, exit 0, for trellis and every command', async () => {
    for (const argv of [['--help'], ['up', '--help'], ['get', '-h'], ['check', '--help'], ['proxy-config', '--help'], ['agent', '--help'], ['control-plane', '--help'], ['proxy', '--help'], ['version', '--help'], ['help', 'get']]) {
      const io = capture();
      assert.equal(await runCli(argv, io), 0, argv.join(' '));
      assert.match(io.stdout, /^Usage: trellis/, argv.join(' '));
    }
  });
  it('unknown command, unknown flag, bad values, missing arguments: exit 2 with usage on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['get', 'services', '--bogus'], /Unknown option '--bogus'/],
      [['get'], /what to get\?/],
      [['get', 'pods'], /unknown kind "pods"/],
      [['get', 'services', '-o', 'xml'], /--output must be one of table, json, yaml/],
      [['get', 'services', 'extra'], /unexpected argument: extra/],
      [['up', '--log-level', 'loud'], /--log-level must be one of/],
      [['proxy'], /--bootstrap is required/],
      [['control-plane', '--state-dir', 'x'], /--api is required/],
      [['proxy-config'], /which proxy\?/],
      [['proxy-config', 'a/b/c'], /is not <workload>\[\/<replica>\]/],
    ];
    for (const [argv, re] of cases) {
      const io = capture();
      assert.equal(await runCli(argv, io), ExitCode.Usage, argv.join(' '));
      assert.match(io.stderr, re, argv.join(' '));
      assert.match(io.stderr, /Usage: trellis/, argv.join(' '));
      assert.equal(io.stdout, '');
    }
  });
  it('an invalid mesh file exits 3 with file:line:col: path: message per problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-cli-'));
    try {
      await writeFile(join(dir, 'trellis.yaml'), 'apiVersion: trellis.dev/v1alpha1\nkind: Mesh\nmetadata: { name: x }\nspec:\n  bogus: 1\n  workloads: []\n');
      const io = capture(dir);
      assert.equal(await runCli(['up', dir], io), ExitCode.Config);
      const file = join(dir, 'trellis.yaml');
      assert.match(io.stderr, new RegExp(`^trellis: .*trellis\\.yaml:5:3: spec\\.bogus: unknown field\\n`));
      assert.match(io.stderr, /trellis: .*trellis\.yaml:6:14: spec\.workloads: expected at least 1 item\(s\)|expected at least one workload/);
      assert.equal(io.stdout, '');
      assert.ok(file.length > 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('the executable runs: version, exit codes', () => {
    const r = spawnSync(process.execPath, [cliEntry, 'version'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^trellis \d+\.\d+\.\d+\nnode v\d+/);
    const bad = spawnSync(process.execPath, [cliEntry, 'get', 'nothing'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
  });
  it("the banner suggests a client that speaks each ingress's protocol", () => {
    assert.equal(tryCommand('http', 'http://127.0.0.1:8080'), 'curl http://127.0.0.1:8080/');
    assert.equal(tryCommand('http2', 'http://127.0.0.1:8081'), 'curl --http2-prior-knowledge http://127.0.0.1:8081/');
    assert.equal(tryCommand('grpc', 'http://127.0.0.1:8082'), 'grpcurl -plaintext -proto <file>.proto 127.0.0.1:8082 <package.Service>/<Method>');
    assert.equal(tryCommand('tcp', 'http://127.0.0.1:8083'), 'nc 127.0.0.1 8083');
    assert.equal(tryCommand('tcp', 'http://[::1]:8083'), 'nc ::1 8083');
    // A TLS listener: by a name its certificate serves, pinned to the listener's address.
    assert.equal(tryCommand('http', 'https://127.0.0.1:8443', 'shop.example.com'), 'curl --resolve shop.example.com:8443:127.0.0.1 https://shop.example.com:8443/');
    assert.equal(tryCommand('http2', 'https://127.0.0.1:8443', 'a.test'), 'curl --http2 --resolve a.test:8443:127.0.0.1 https://a.test:8443/');
    assert.equal(tryCommand('grpc', 'https://127.0.0.1:8444', 'a.test'), 'grpcurl -servername a.test -proto <file>.proto 127.0.0.1:8444 <package.Service>/<Method>');
    assert.equal(tryCommand('tcp', 'https://[::1]:8445', 'a.test'), 'openssl s_client -connect [::1]:8445 -servername a.test');
    const mesh = parseMeshText(
      'apiVersion: trellis.dev/v1alpha1\nkind: Mesh\nmetadata: { name: m }\nspec:\n  ingress:\n    - { name: web, service: front, port: http }\n    - { name: api, service: orders, port: grpc }\n  workloads:\n    - { name: front, command: [node, a.mjs], ports: [{ name: http }] }\n    - { name: orders, command: [node, b.mjs], ports: [{ name: grpc, protocol: grpc }] }\n',
      '/m/trellis.yaml',
    );
    assert.equal(
      upBanner(mesh, '/m/.trellis/logs', [{ name: 'web', url: 'http://127.0.0.1:8080' }, { name: 'api', url: 'http://127.0.0.1:8081' }]),
      'trellis: mesh "m" is up (2 workload(s)); logs in /m/.trellis/logs\n' +
        '  try:  curl http://127.0.0.1:8080/   (ingress web, http)\n' +
        '        grpcurl -plaintext -proto <file>.proto 127.0.0.1:8081 <package.Service>/<Method>   (ingress api, grpc)\n' +
        '  then: trellis get workloads   (from any folder; npx trellis inside the clone; Ctrl-C stops the mesh)\n',
    );
  });

  it('the ready line', () => {
    assert.equal(
      readyLine('http://127.0.0.1:1', 'https://127.0.0.1:2', [{ name: 'web', url: 'http://127.0.0.1:3' }, { name: 'admin', url: 'http://127.0.0.1:4' }], '0123456789abcdef.s3cr3t'),
      'ready api=http://127.0.0.1:1 dashboard=http://127.0.0.1:1/dashboard/?token=0123456789abcdef.s3cr3t push=https://127.0.0.1:2 ingress.web=http://127.0.0.1:3 ingress.admin=http://127.0.0.1:4\n',
    );
  });
});

describe('cli: get, check, proxy-config against a fixture API', () => {
  let server: Server;
  let url = '';
  before(async () => {
    server = createServer((req, res) => {
      const body: Record<string, unknown> = {
        '/api/v1/services': SERVICES,
        '/api/v1/workloads': workloads(),
        '/api/v1/endpoints': ENDPOINTS,
        '/api/v1/proxies': PROXIES,
        '/api/v1/check': check,
        '/config': { version: 4, listeners: ['inbound http'] },
      };
      const v = body[req.url ?? ''];
      res.writeHead(v === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v ?? { error: { code: 'not-found', message: 'no' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    adminUrl = url;
  });
  after(async () => new Promise<void>((r) => server.close(() => r())));

  const run = async (argv: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<{ code: number; out: string; err: string }> => {
    const io = capture(cwd, env);
    const code = await runCli(argv, io);
    return { code, out: io.stdout, err: io.stderr };
  };

  it('tables have aligned columns', async () => {
    const r = await run(['get', 'services', '--control-plane', url]);
    assert.equal(r.code, 0);
    assert.equal(
      r.out,
      'NAMESPACE  NAME     PORTS      READY  IDENTITY\n' +
        'default    catalog  http/http  2/2    spiffe://t.local/ns/default/sa/catalog\n' +
        'default    orders   grpc/grpc  0/1    spiffe://t.local/ns/default/sa/orders\n',
    );
    const w = await run(['get', 'workloads', '--control-plane', url]);
    assert.equal(
      w.out,
      'NAMESPACE  NAME     SERVICE  READY  STATES           RESTARTS  PIDS (APP/PROXY)  KIND      AGENT\n' +
        'default    catalog  catalog  1/2    ready,unhealthy  1         10/20,11/21       workload  host-a\n',
    );
    const e = await run(['get', 'endpoints', '--control-plane', url]);
    assert.equal(
      e.out,
      'NAMESPACE  SERVICE  PORT  PROTOCOL  ADDRESS          WORKLOAD   READY\n' +
        'default    catalog  http  http      127.0.0.1:40001  catalog/0  yes\n' +
        'default    catalog  http  http      127.0.0.1:40002  catalog/1  no\n',
    );
    const p = await run(['get', 'proxies', '--control-plane', url]);
    assert.equal(
      p.out,
      'NODE               CONNECTED  VERSION  ACKED  CERT EXPIRES  HANDSHAKES  TLS FAILURES  ADMIN\n' +
        'default/catalog/0  yes        4        4      -             12          0             http://127.0.0.1:1\n',
    );
  });

  it('get workloads: an ingress has no app pid, a stopped replica none at all', () => {
    const ingress: WorkloadView = {
      ...workloads()[0]!, name: 'web', service: 'frontend', ingress: true,
      replicas: [{ ...replica(0, 'ready', ''), appPid: null, proxyPid: 31 }, { ...replica(1, 'unhealthy', ''), appPid: null, proxyPid: null }],
    };
    assert.match(render('workloads', [ingress], 0), /\n\S+\s+web\s+-\s+1\/2\s+ready,unhealthy\s+1\s+-\/31,-\/-\s+ingress\s+host-a\n$/);
  });

  it('json and yaml print the API objects unchanged', async () => {
    const j = await run(['get', 'endpoints', '-o', 'json', '--control-plane', url]);
    assert.deepEqual(JSON.parse(j.out), ENDPOINTS);
    const y = await run(['get', 'services', '-o', 'yaml', '--control-plane', url]);
    assert.deepEqual(parseYaml(y.out), SERVICES);
  });

  it('finds the control plane from $TRELLIS_CONTROL_PLANE, then ./.trellis/control-plane.json', async () => {
    assert.equal((await run(['get', 'services'], { TRELLIS_CONTROL_PLANE: url })).code, 0);
    const dir = await mkdtemp(join(tmpdir(), 'trellis-cli-'));
    try {
      await mkdir(join(dir, '.trellis'));
      await writeFile(join(dir, '.trellis', 'control-plane.json'), JSON.stringify({ pid: 1, apiUrl: url, pushUrl: 'x', trustDomain: 't' }));
      const r = await run(['get', 'services', '-o', 'json'], {}, dir);
      assert.equal(r.code, 0);
      assert.deepEqual(JSON.parse(r.out), SERVICES);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('unreachable control plane: clear message, exit 4', async () => {
    const r = await run(['get', 'services', '--control-plane', 'http://127.0.0.1:1']);
    assert.equal(r.code, ExitCode.Unreachable);
    assert.match(r.err, /^trellis: cannot reach the control plane at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  });

  it('check: ok/FAIL per check, exit 0 or 1', async () => {
    const ok = await run(['check', '--control-plane', url]);
    assert.equal(ok.code, 0);
    assert.equal(ok.out, 'STATUS  CHECK               DETAIL\nok      proxies connected   2 of 2\nok      certificates valid  all valid\nall 2 checks passed\n');
    check = { ok: false, checks: [{ name: 'proxies connected', ok: false, detail: '1 of 2' }] };
    const bad = await run(['check', '--control-plane', url]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^FAIL {4}proxies connected {2}1 of 2$/m);
    const j = await run(['check', '-o', 'json', '--control-plane', url]);
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.out), check);
  });

  it('proxy-config fetches the admin /config of a replica; unknown workload or replica exits 5', async () => {
    const r = await run(['proxy-config', 'catalog/1', '--control-plane', url]);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), { version: 4, listeners: ['inbound http'] });
    const y = await run(['proxy-config', 'catalog', '-o', 'yaml', '--control-plane', url]);
    assert.deepEqual(parseYaml(y.out), { version: 4, listeners: ['inbound http'] });
    const none = await run(['proxy-config', 'nope', '--control-plane', url]);
    assert.equal(none.code, ExitCode.NotFound);
    assert.match(none.err, /^trellis: no workload "nope" \(known: catalog\)/);
    assert.equal((await run(['proxy-config', 'catalog/7', '--control-plane', url])).code, ExitCode.NotFound);
  });
});
