#!/usr/bin/env node
// Bundles the dashboard (web/src) into web/dist: app.js (minified, with a source map),
// app.css (uPlot's stylesheet and ours) and index.html. Everything the browser needs is in
// those files, so the dashboard works without a network connection (no CDN, system fonts).
// `node scripts/build-dashboard.mjs` from anywhere; `--watch` rebuilds on change.
import { build, context } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'web', 'src');
const out = join(root, 'web', 'dist');

/** @type {import('esbuild').BuildOptions} */
const options = {
  entryPoints: { app: join(src, 'main.tsx') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
  // The tsconfig is for type checking only (noEmit); esbuild needs none of it.
  tsconfig: join(root, 'web', 'tsconfig.json'),
};

const started = Date.now();
// Files are overwritten in place (not the folder removed first), so a control plane serving
// web/dist never sees it missing while a rebuild runs.
await mkdir(out, { recursive: true });
await copyFile(join(src, 'index.html'), join(out, 'index.html'));
if (process.argv.includes('--watch')) {
  const ctx = await context(options);
  await ctx.watch();
  console.log(`build-dashboard: watching ${src}`);
} else {
  await build(options);
  console.log(`build-dashboard: web/dist built in ${Date.now() - started} ms`);
}
