/**
 * Micro benchmark (not a test): ns per normalizePath call on typical request paths, the ones
 * that change, and refusals; with `new URL()` of the same paths for scale.
 * Run (after building): node <outDir>/bench/normalize-path.js [iterations per round]
 */
import { normalizePath } from '../src/proxy/stages/normalize/path.js';

const TYPICAL = [
  '/',
  '/healthz',
  '/api/v1/products/12345',
  '/static/js/app.3f9a1c7e.chunk.js',
  '/catalog.v1.Catalog/ListProducts',
  '/users/jane%40example.com/avatar',
  '/search/caf%C3%A9/results/page/2',
  '/v2/library/nginx/manifests/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
];
const CHANGED = ['//admin', '/a/../admin', '/./admin/x', '/%2e%2e/admin', '/%61dmin', '/caf%c3%a9'];
const REFUSED = ['/%2Fadmin', '/a%00', '/a\\b', '/%zz'];

let sink = 0;

/**
 * Best of 5 rounds, in CPU time (user + system) rather than wall time, so that other work on a
 * shared machine inflates the figure less.
 */
function bench(name: string, paths: readonly string[], n: number, fn: (p: string) => unknown): void {
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const r = fn(paths[i % paths.length] as string);
      if (typeof r === 'string') sink += r.length;
      else sink++;
    }
  };
  run(Math.min(n, 200_000));
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.cpuUsage();
    run(n);
    const d = process.cpuUsage(t0);
    best = Math.min(best, ((d.user + d.system) * 1000) / n);
  }
  console.log(`${name.padEnd(40)} ${best.toFixed(1).padStart(7)} ns/call`);
}

const n = Number(process.argv[2] ?? 2_000_000);
const meanLength = (ps: readonly string[]): string => (ps.reduce((a, p) => a + p.length, 0) / ps.length).toFixed(0);
console.log(`typical paths: ${TYPICAL.length}, mean ${meanLength(TYPICAL)} chars`);
bench('normalizePath, typical (unchanged)', TYPICAL, n, normalizePath);
bench('normalizePath, changed', CHANGED, n, normalizePath);
bench('normalizePath, refused', REFUSED, n, normalizePath);
bench('new URL(p, base).pathname, typical', TYPICAL, Math.max(1, Math.floor(n / 10)), (p) => new URL(p, 'http://h').pathname);
console.log(`(sink ${sink})`);
