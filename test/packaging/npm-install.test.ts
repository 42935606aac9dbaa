/**
 * Installing Trellis on a host without the repository (docs/multi-host.md, "Install on a
 * host"): `npm pack` makes a tarball of the compiled code under test, `npm install -g` of that
 * tarball into a fresh prefix gives a `trellis` binary, and that binary runs the demo shop from
 * the installed package (its own dependencies, gRPC included) with the dashboard built in.
 *
 * The tarball is packed from a staging folder holding package.json and what its `files` list
 * names, with this build's compiled code (the folder this test was compiled into), so the test
 * installs exactly what is being tested. `npm pack` runs with --ignore-scripts (`prepare` is a
 * full build); `npm install -g` runs as a user's would. Dependencies come from the npm
 * registry or its local cache. Needs web/dist (`npm test` builds it first).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import YAML from 'yaml';
import { cliEntry, packageRoot } from '../../src/util/paths.js';
import { killLeftovers, parseReadyLine } from '../helpers/mesh.js';

/** The folder this build compiled into (holding src/), e.g. dist/ or .build/out/. */
const compiledRoot = resolve(dirname(cliEntry), '..', '..');
const dashboardBuilt = existsSync(join(packageRoot, 'web', 'dist', 'index.html'));

function npm(args: string[], cwd: string, timeoutMs = 180_000): { status: number | null; stdout: string; stderr: string } {
  const execpath = process.env.npm_execpath;
  const r =
    execpath !== undefined && execpath.endsWith('.js')
      ? spawnSync(process.execPath, [execpath, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs })
      : spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function compiledModules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return compiledModules(p);
    return name.endsWith('.js') && !name.endsWith('.test.js') ? [p] : [];
  });
}

function waitForLine(child: ChildProcess, prefix: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no "${prefix}" line within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err.slice(-3000)}`)), timeoutMs);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith(prefix));
      if (line !== undefined) {
        clearTimeout(timer);
        resolvePromise(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before "${prefix}"\nstdout: ${out}\nstderr: ${err.slice(-3000)}`));
    });
  });
}

describe('npm pack, then npm install -g on a host without the repository', { skip: dashboardBuilt ? false : 'needs web/dist (node scripts/build-dashboard.mjs; npm test builds it)' }, () => {
  let work = '';
  let tarball = '';
  let installed = '';
  let bin = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'trellis-install-'));
    const stage = join(work, 'stage');
    mkdirSync(stage);
    cpSync(join(packageRoot, 'package.json'), join(stage, 'package.json'));
    cpSync(join(packageRoot, 'README.md'), join(stage, 'README.md'));
    for (const dir of ['docs', 'examples', 'packaging', join('web', 'dist')]) cpSync(join(packageRoot, dir), join(stage, dir), { recursive: true });
    for (const f of compiledModules(join(compiledRoot, 'src'))) {
      const to = join(stage, 'dist', relative(compiledRoot, f));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(f, to);
    }
    const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], stage);
    assert.equal(packed.status, 0, packed.stderr);
    tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
    const prefix = join(work, 'prefix');
    const inst = npm(['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], work);
    assert.equal(inst.status, 0, `npm install -g failed:\n${inst.stderr}`);
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { name: string };
    installed = join(prefix, 'lib', 'node_modules', pkg.name);
    bin = join(prefix, 'bin', 'trellis');
  });

  after(async () => {
    if (work === '') return;
    const left = await killLeftovers(work, 15_000);
    await rm(work, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no process of the installed mesh is left');
  });

  it('installs a trellis binary with the compiled CLI, the dashboard bundle, the examples, the docs and the systemd units, and no tests', () => {
    assert.ok(existsSync(bin), `${bin} exists`);
    for (const f of ['dist/src/cli/main.js', 'web/dist/index.html', 'web/dist/app.js', 'examples/shop/trellis.yaml', 'examples/shop-hosts/trellis.yaml', 'docs/multi-host.md', 'packaging/systemd/trellis-agent@.service', 'packaging/systemd/trellis-control-plane.service']) {
      assert.ok(existsSync(join(installed, f)), `${f} is installed`);
    }
    assert.equal(existsSync(join(installed, 'dist', 'test')), false);
    assert.equal(existsSync(join(installed, 'src')), false);
    assert.ok(existsSync(join(installed, 'node_modules', '@grpc', 'grpc-js')) || existsSync(join(dirname(installed), '@grpc', 'grpc-js')), 'its dependencies came with it');
  });

  it('the binary runs from anywhere', () => {
    const r = spawnSync(bin, ['version'], { cwd: work, encoding: 'utf8', env: { ...process.env, XDG_CONFIG_HOME: join(work, 'config') } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
  });

  it('runs the installed demo shop (gRPC from its own dependencies) and serves the dashboard it carries', async () => {
    // The installed shop, moved off its fixed ports so it cannot meet another running mesh.
    const shop = join(installed, 'examples', 'shop-it');
    cpSync(join(installed, 'examples', 'shop'), shop, { recursive: true });
    const doc = YAML.parseDocument(readFileSync(join(shop, 'trellis.yaml'), 'utf8'));
    doc.setIn(['spec', 'controlPlane', 'api'], '127.0.0.1:0');
    doc.setIn(['spec', 'controlPlane', 'push'], '127.0.0.1:0');
    doc.setIn(['spec', 'ingress', 0, 'listen'], '127.0.0.1:0');
    writeFileSync(join(shop, 'trellis.yaml'), doc.toString());
    const up = spawn(bin, ['up', shop, '--state-dir', join(work, 'state')], { cwd: work, env: { ...process.env, XDG_CONFIG_HOME: join(work, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const ready = parseReadyLine(await waitForLine(up, 'ready ', 90_000));
      const page = await request(`${ready.ingress.web}/`);
      const html = await page.body.text();
      assert.equal(page.statusCode, 200);
      assert.match(html, /over HTTP/);
      assert.match(html, /over gRPC/);
      // The ready line's link signs the browser in (a cookie, then a redirect to the bare page).
      const login = await request(ready.dashboardUrl);
      await login.body.text();
      assert.equal(login.statusCode, 303);
      const cookie = String(login.headers['set-cookie'] ?? '').split(';')[0] as string;
      assert.notEqual(cookie, '');
      const dash = await request(new URL(String(login.headers.location), ready.dashboardUrl), { headers: { cookie } });
      const dashHtml = await dash.body.text();
      assert.equal(dash.statusCode, 200, dashHtml);
      assert.match(dashHtml, /<script/);
    } finally {
      const exited = new Promise<number | null>((r) => up.once('exit', (code) => r(code)));
      if (up.exitCode === null) up.kill('SIGTERM');
      const code = up.exitCode ?? (await exited);
      assert.equal(code, 0, 'trellis up exits 0 on SIGTERM');
    }
  });
});
