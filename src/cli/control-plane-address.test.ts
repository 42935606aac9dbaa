import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExitCode } from '../errors.js';
import { DEFAULT_CONTROL_PLANE, resolveControlPlane } from './control-plane-address.js';
import { connectControlPlane, takeGlobalOptions } from './credentials.js';
import { runCli } from './run.js';
import { captureIo } from './test-support.js';
import { readUserContext, removeUserContext, userContextPath, writeUserContext, type UpContext } from './user-context.js';

const LIVE = 4242;
const DEAD = 4343;
const alive = (pid: number): boolean => pid === LIVE;

describe('finding the control plane: --control-plane > $TRELLIS_CONTROL_PLANE > ./.trellis > per-user record > default', () => {
  let dir = '';
  let meshDir = '';
  let home = '';
  const context = (over: Partial<UpContext> = {}): UpContext => ({ apiUrl: 'http://127.0.0.1:7003', stateDir: '/srv/mesh/.trellis', meshFile: '/srv/mesh/trellis.yaml', pid: LIVE, startedAt: '2026-01-01T00:00:00.000Z', ...over });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-cp-address-'));
    meshDir = join(dir, 'mesh');
    home = join(dir, 'home');
    mkdirSync(join(meshDir, '.trellis'), { recursive: true });
    writeFileSync(join(meshDir, '.trellis', 'control-plane.json'), JSON.stringify({ pid: LIVE, apiUrl: 'http://127.0.0.1:7002', pushUrl: 'x', trustDomain: 't' }));
    writeUserContext({ HOME: home }, context());
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const resolve = (flag: string | undefined, env: Record<string, string | undefined>, cwd: string): ReturnType<typeof resolveControlPlane> => resolveControlPlane(flag, captureIo({ cwd, env }), alive);

  it('each source wins over the ones after it', () => {
    const env = { HOME: home, TRELLIS_CONTROL_PLANE: 'http://127.0.0.1:7001/' };
    assert.deepEqual(resolve('http://127.0.0.1:7000/', env, meshDir), { url: 'http://127.0.0.1:7000', source: 'flag', detail: '--control-plane' });
    assert.equal(resolve(undefined, env, meshDir).url, 'http://127.0.0.1:7001');
    const here = resolve(undefined, { HOME: home }, meshDir);
    assert.equal(here.url, 'http://127.0.0.1:7002');
    assert.equal(here.source, 'mesh-folder');
    assert.equal(here.stateDir, join(meshDir, '.trellis'));
    const user = resolve(undefined, { HOME: home }, dir);
    assert.equal(user.url, 'http://127.0.0.1:7003');
    assert.equal(user.source, 'user-context');
    assert.equal(user.stateDir, '/srv/mesh/.trellis');
    assert.match(user.detail, /home\/\.config\/trellis\/context\.json \(the last `trellis up`, of \/srv\/mesh\/trellis\.yaml, pid 4242\)$/);
    assert.equal(resolve(undefined, {}, dir).url, DEFAULT_CONTROL_PLANE);
    assert.equal(resolve(undefined, { TRELLIS_CONTROL_PLANE: '' }, dir).source, 'default', 'an empty variable is unset');
  });

  it('a mesh folder whose control plane is gone (killed, its file left behind) is skipped', () => {
    const stale = join(dir, 'stale-mesh');
    mkdirSync(join(stale, '.trellis'), { recursive: true });
    writeFileSync(join(stale, '.trellis', 'control-plane.json'), JSON.stringify({ pid: DEAD, apiUrl: 'http://127.0.0.1:7009' }));
    assert.equal(resolve(undefined, { HOME: home }, stale).source, 'user-context');
  });

  it('a record whose `trellis up` is gone is ignored, and the default says why', () => {
    const other = join(dir, 'home-stale');
    writeUserContext({ HOME: other }, context({ pid: DEAD }));
    const r = resolve(undefined, { HOME: other }, dir);
    assert.equal(r.source, 'default');
    assert.match(r.detail, /only a stale record in \S+context\.json \(its `trellis up`, pid 4343, is gone\)/);
    assert.match(resolve(undefined, { HOME: join(dir, 'nobody') }, dir).detail, /no running `trellis up` recorded in \S+nobody\/\.config\/trellis\/context\.json/);
  });

  it('$XDG_CONFIG_HOME first, then $HOME/.config; a relative XDG_CONFIG_HOME is ignored (XDG spec); no home, no record', () => {
    assert.equal(userContextPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/u' }), '/x/cfg/trellis/context.json');
    assert.equal(userContextPath({ XDG_CONFIG_HOME: 'cfg', HOME: '/home/u' }), '/home/u/.config/trellis/context.json');
    assert.equal(userContextPath({ XDG_CONFIG_HOME: '', HOME: '/home/u' }), '/home/u/.config/trellis/context.json');
    assert.equal(userContextPath({}), null);
    assert.equal(writeUserContext({}, context()), null);
    assert.equal(readUserContext({}).state, 'none');
  });

  it('the record is private (0600 in a 0700 folder) and only its own `up` removes it', () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'xdg') };
    const path = writeUserContext(env, context())!;
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'xdg', 'trellis')).mode & 0o777, 0o700);
    removeUserContext(env, DEAD); // another (earlier) up stopping
    assert.equal(readUserContext(env, alive).state, 'live');
    removeUserContext(env, LIVE);
    assert.equal(readUserContext(env, alive).state, 'none');
  });

  it('a garbled record is no record', () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'garbled') };
    mkdirSync(join(dir, 'garbled', 'trellis'), { recursive: true });
    for (const text of ['{', '[]', '{"apiUrl": 1}', JSON.stringify({ ...context(), pid: -1 })]) {
      writeFileSync(userContextPath(env)!, text);
      assert.equal(readUserContext(env, () => true).state, 'none', text);
    }
  });

  it('the token: --token > $TRELLIS_TOKEN > --state-dir > the state directory that goes with the address', () => {
    const stateDir = join(dir, 'state-of-last-up');
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, 'admin-token'), 'tok-from-context\n');
    const other = join(dir, 'other-state');
    mkdirSync(other);
    writeFileSync(join(other, 'admin-token'), 'tok-from-flag\n');
    const env = { XDG_CONFIG_HOME: join(dir, 'xdg-token') };
    writeUserContext(env, context({ stateDir, pid: process.pid }));
    const bearer = (argv: string[], e: Record<string, string | undefined>, flag?: string, stateDirFlag?: string): string | undefined => {
      const io = captureIo({ cwd: dir, env: e });
      takeGlobalOptions(argv, io);
      return connectControlPlane(flag, io, stateDirFlag).headers.authorization;
    };
    assert.equal(bearer([], env), 'Bearer tok-from-context', 'the last up: its address and its state directory');
    assert.equal(bearer([], env, 'http://127.0.0.1:7003/'), 'Bearer tok-from-context', '--control-plane naming the same control plane finds its state directory');
    assert.equal(bearer([], env, 'http://127.0.0.1:7999'), undefined, 'another control plane: no token of this one is sent to it');
    assert.equal(bearer([], env, undefined, other), 'Bearer tok-from-flag', '--state-dir wins over the found mesh');
    assert.equal(bearer([], { ...env, TRELLIS_TOKEN: 'tok-from-env' }, undefined, other), 'Bearer tok-from-env');
    assert.equal(bearer(['--token', 'tok-from-option'], { ...env, TRELLIS_TOKEN: 'tok-from-env' }), 'Bearer tok-from-option');
    assert.equal(bearer(['get', '--token=tok-eq', 'services'], env), 'Bearer tok-eq');
    assert.equal(bearer([], env, undefined, join(dir, 'nowhere')), undefined, '--state-dir without a token sends none');
  });
});

describe('the CLI outside any mesh folder', () => {
  let dir = '';
  let server: Server;
  let url = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-cp-cli-'));
    server = createServer((req, res) => {
      res.writeHead(req.url === '/api/v1/services' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/api/v1/services' ? '[]' : '{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the last `trellis up` from its per-user record', async () => {
    const env = { HOME: join(dir, 'home') };
    writeUserContext(env, { apiUrl: url, stateDir: join(dir, 'state'), meshFile: join(dir, 'trellis.yaml'), pid: process.pid, startedAt: new Date(0).toISOString() });
    const io = captureIo({ cwd: dir, env });
    assert.equal(await runCli(['get', 'services', '-o', 'json'], io), 0, io.stderr);
    assert.equal(io.stdout, '[]\n');
  });

  it('when the address found does not answer, the error says where it came from', async () => {
    const env = { HOME: join(dir, 'home-unreachable') };
    writeUserContext(env, { apiUrl: 'http://127.0.0.1:1', stateDir: join(dir, 'state'), meshFile: '/srv/shop/trellis.yaml', pid: process.pid, startedAt: new Date(0).toISOString() });
    const io = captureIo({ cwd: dir, env });
    assert.equal(await runCli(['get', 'services'], io), ExitCode.Unreachable);
    assert.match(io.stderr, /^trellis: cannot reach the control plane at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    assert.match(io.stderr, /\ntrellis: http:\/\/127\.0\.0\.1:1 came from \S+home-unreachable\/\.config\/trellis\/context\.json \(the last `trellis up`, of \/srv\/shop\/trellis\.yaml, pid \d+\); start the mesh with `trellis up`, or point at it with --control-plane URL or \$TRELLIS_CONTROL_PLANE\n$/);
    const flagged = captureIo({ cwd: dir, env });
    assert.equal(await runCli(['get', 'services', '--control-plane', 'http://127.0.0.1:1'], flagged), ExitCode.Unreachable);
    assert.match(flagged.stderr, /\ntrellis: http:\/\/127\.0\.0\.1:1 came from --control-plane\n$/);
  });
});
