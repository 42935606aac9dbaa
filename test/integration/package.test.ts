/**
 * The packed package works outside the clone (README, "Use the CLI from anywhere"): what
 * `npm pack` would put in the tarball holds the CLI's compiled code, the dashboard bundle and
 * the demo, and no tests or sources. Packed from a temporary copy of package.json and
 * .gitignore with a stand-in for every compiled module (`npm pack` itself would run `prepare`,
 * a full build: --ignore-scripts), so the test does not depend on a build being there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageRoot } from '../../src/util/paths.js';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function touch(root: string, rel: string, content = ''): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), content);
}

describe('npm pack', () => {
  let dir = '';
  let packed: string[] = [];
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; files?: string[] };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-pack-'));
    copyFileSync(join(packageRoot, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(packageRoot, '.gitignore'), join(dir, '.gitignore'));
    // What `npm run build` leaves: dist/ for every .ts (tests, bench and examples compile there too), web/dist.
    for (const top of ['src', 'test', 'bench']) {
      for (const f of walk(join(packageRoot, top)).filter((p) => p.endsWith('.ts'))) {
        const rel = relative(packageRoot, f);
        touch(dir, rel);
        touch(dir, join('dist', rel.replace(/\.ts$/, '.js')));
        touch(dir, join('dist', rel.replace(/\.ts$/, '.js.map')));
      }
    }
    for (const f of ['index.html', 'app.js', 'app.js.map', 'app.js.LEGAL.txt', 'app.css']) touch(dir, join('web', 'dist', f));
    touch(dir, join('web', 'src', 'main.tsx'));
    for (const f of walk(join(packageRoot, 'examples'))) touch(dir, relative(packageRoot, f));
    touch(dir, 'README.md', '# Trellis\n');
    const npm = process.env.npm_execpath;
    const r = npm !== undefined && npm.endsWith('.js')
      ? spawnSync(process.execPath, [npm, 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' })
      : spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { files: { path: string }[] }[];
    packed = out[0]!.files.map((f) => f.path).sort();
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('holds the CLI entry the bin points at, every compiled module, the dashboard and the demo', () => {
    assert.equal(pkg.bin.trellis, 'dist/src/cli/main.js');
    for (const f of ['dist/src/cli/main.js', 'dist/src/proxy/main.js', 'dist/src/control/main.js', 'web/dist/index.html', 'web/dist/app.js', 'web/dist/app.css', 'web/dist/app.js.LEGAL.txt', 'examples/shop/trellis.yaml', 'examples/shop/orders.proto', 'package.json', 'README.md']) {
      assert.ok(packed.includes(f), `${f} is packed (files: ${packed.length})`);
    }
    const modules = walk(join(packageRoot, 'src')).filter((p) => p.endsWith('.ts') && !p.endsWith('.test.ts')).map((p) => join('dist', relative(packageRoot, p)).replace(/\.ts$/, '.js'));
    for (const m of modules) assert.ok(packed.includes(m), `${m} is packed`);
  });

  it('holds no tests, no TypeScript sources, no benchmarks and no maps of the compiled code (they point at sources not packed)', () => {
    const unwanted = packed.filter((p) => p.endsWith('.test.js') || p.endsWith('.ts') || p.endsWith('.tsx') || (p.startsWith('dist/') && p.endsWith('.map')) || p.startsWith('dist/test/') || p.startsWith('dist/bench/') || p.startsWith('src/') || p.startsWith('test/'));
    assert.deepEqual(unwanted, []);
  });
});
