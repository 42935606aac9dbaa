/**
 * Regex engines for route matches, measured side by side (docs/performance.md, "Route regexes").
 *
 *   npx tsc -p tsconfig.json && node dist/bench/regex-engines.js [--quick]
 *
 * 1. The attack (issue 9): `/.*.*.*.*x` against `/aaa…a` of growing length. JavaScript's
 *    backtracking engine is run only up to JS_MAX_ATTACK_LENGTH (it grows as about n^4).
 * 2. Throughput on typical route patterns (path, header, query, gRPC method), matching and
 *    non-matching inputs: ns per full-string test.
 * 3. Compile cost per pattern, and memory after compiling many patterns (a control plane and
 *    every proxy recompile route tables on every snapshot).
 *
 * re2js is a dependency of Trellis; re2-wasm is not: it is measured when it can be imported
 * (`npm install --no-save re2-wasm` in a scratch checkout) and skipped otherwise.
 */
import { createRequire } from 'node:module';
import { RE2JS } from 're2js';

interface Engine {
  name: string;
  /** Compiles `source` for a whole-string match. Throws on invalid syntax. */
  compile(source: string): (input: string) => boolean;
}

const quick = process.argv.includes('--quick');
const ATTACK = '/.*.*.*.*x';
const ATTACK_LENGTHS = [50, 100, 200, 400, 800, 1600, 3200, 6400];
const JS_MAX_ATTACK_LENGTH = quick ? 100 : 200;

/** Route patterns as users write them, each with inputs that match and inputs that do not. */
const TYPICAL: { what: string; pattern: string; inputs: string[] }[] = [
  { what: 'path', pattern: '/api/v[0-9]+/users/[^/]+', inputs: ['/api/v2/users/alice', '/api/v2/orders/17', '/static/app.js'] },
  { what: 'path', pattern: '/static/.*\\.(css|js|png)', inputs: ['/static/css/site.css', '/static/img/logo.svg', '/'] },
  { what: 'path (long)', pattern: '/files/.*', inputs: ['/files/' + 'a/'.repeat(150), '/other/' + 'b'.repeat(300)] },
  { what: 'header', pattern: 'canary|beta-[a-z]+', inputs: ['canary', 'beta-users', 'stable'] },
  { what: 'query', pattern: '1|true|yes', inputs: ['true', '0'] },
  { what: 'gRPC method', pattern: 'Get.*', inputs: ['GetOrder', 'CreateOrder'] },
];

const jsEngine: Engine = {
  name: 'JS RegExp',
  compile(source) {
    const re = new RegExp(`^(?:${source})$`, 'u');
    return (input) => re.test(input);
  },
};

const re2jsEngine: Engine = {
  name: 're2js',
  compile(source) {
    const re = RE2JS.compile(source);
    return (input) => re.testExact(input);
  },
};

/** re2-wasm is CommonJS with a synchronous WASM load; absent unless installed by hand. */
function loadRe2Wasm(): Engine | undefined {
  try {
    const require = createRequire(import.meta.url);
    const name = 're2-wasm';
    const { RE2 } = require(name) as { RE2: new (source: string, flags: string) => { test(s: string): boolean } };
    return {
      name: 're2-wasm',
      compile(source) {
        const re = new RE2(`^(?:${source})$`, 'u');
        return (input) => re.test(input);
      },
    };
  } catch {
    return undefined;
  }
}

function ms(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Median of `rounds` timings of `fn`, in ms. */
function medianMs(fn: () => void, rounds: number): number {
  const t: number[] = [];
  for (let i = 0; i < rounds; i++) t.push(ms(fn));
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)] as number;
}

function attack(engines: Engine[]): void {
  console.log(`\n1. attack: ${ATTACK} against "/" + "a" x n (ms per test, median; result must be false)`);
  console.log(['n', ...engines.map((e) => e.name)].map((s) => s.padStart(12)).join(''));
  const compiled = engines.map((e) => e.compile(ATTACK));
  for (const n of ATTACK_LENGTHS) {
    const input = '/' + 'a'.repeat(n);
    const cells = compiled.map((test, i) => {
      if (engines[i]?.name === 'JS RegExp' && n > JS_MAX_ATTACK_LENGTH) return 'skipped';
      let result = true;
      const rounds = engines[i]?.name === 'JS RegExp' ? 1 : 9;
      const t = medianMs(() => {
        result = test(input);
      }, rounds);
      return result ? 'WRONG' : t.toFixed(3);
    });
    console.log([String(n), ...cells].map((s) => s.padStart(12)).join(''));
  }
}

function throughput(engines: Engine[]): void {
  const iterations = quick ? 20_000 : 200_000;
  console.log(`\n2. typical patterns: ns per whole-string test (${iterations} tests per cell, best of 3)`);
  console.log(['pattern', 'input', ...engines.map((e) => e.name)].map((s, i) => (i < 2 ? s.padEnd(i === 0 ? 30 : 24) : s.padStart(12))).join(''));
  for (const t of TYPICAL) {
    const tests = engines.map((e) => e.compile(t.pattern));
    for (const input of t.inputs) {
      const expected = (tests[0] as (s: string) => boolean)(input);
      const cells = tests.map((test) => {
        if (test(input) !== expected) return 'DIFFERS';
        let best = Infinity;
        for (let r = 0; r < 3; r++) {
          let sink = 0;
          const took = ms(() => {
            for (let i = 0; i < iterations; i++) if (test(input)) sink++;
          });
          if (sink < 0) console.log(sink);
          best = Math.min(best, (took * 1e6) / iterations);
        }
        return best.toFixed(0);
      });
      const shown = input.length > 22 ? `${input.slice(0, 12)}…(${input.length})` : input;
      console.log([`${t.what}: ${t.pattern}`.slice(0, 29).padEnd(30), `${shown} ${expected ? '✓' : '✗'}`.padEnd(24), ...cells.map((c) => c.padStart(12))].join(''));
    }
  }
}

function compileCost(engines: Engine[]): void {
  const count = quick ? 2_000 : 20_000;
  console.log(`\n3. compiling ${count} distinct patterns (every snapshot recompiles its route tables)`);
  const mb = (b: number): string => (b / 1048576).toFixed(1);
  for (const e of engines) {
    globalThis.gc?.();
    const before = process.memoryUsage();
    const kept: ((s: string) => boolean)[] = [];
    let failure = '';
    const took = ms(() => {
      try {
        for (let i = 0; i < count; i++) kept.push(e.compile(`/api/v${i}/[a-z]+/(items|orders)/[0-9]+`));
      } catch (err) {
        failure = `ABORTED after ${kept.length} compiles: ${(err as Error).message.slice(0, 80)}`;
      }
    });
    const compiled = kept.length;
    globalThis.gc?.();
    const held = process.memoryUsage();
    kept.length = 0; // dropped: what a snapshot swap does with the previous table
    globalThis.gc?.();
    const after = process.memoryUsage();
    console.log(
      `${e.name.padEnd(12)} ${((took * 1000) / Math.max(1, compiled)).toFixed(1).padStart(7)} µs per compile;` +
        ` held: ${((held.heapUsed - before.heapUsed) / Math.max(1, compiled) / 1024).toFixed(1)} KB heap per pattern;` +
        ` after dropping them: heap ${mb(after.heapUsed - before.heapUsed)} MB, external ${mb(after.external - before.external)} MB, rss ${mb(after.rss - before.rss)} MB more` +
        (globalThis.gc === undefined ? ' (run with --expose-gc for collected figures)' : '') +
        (failure !== '' ? `\n             ${failure}` : ''),
    );
  }
}

const engines = [jsEngine, re2jsEngine];
const wasm = loadRe2Wasm();
if (wasm !== undefined) engines.push(wasm);
else console.log('re2-wasm not installed: measuring JS RegExp and re2js only');
console.log(`node ${process.version}`);
attack(engines);
throughput(engines);
compileCost(engines);
