/**
 * `trellis stat` and `trellis edges` against a real mesh: known traffic (app a -> a's proxy ->
 * b's proxy -> app b) sent while `trellis stat` waits between its two scrapes, exact counts and
 * success rate in its JSON; `trellis edges` shows a -> b with a's SPIFFE identity.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { EdgeRow } from '../../src/cli/commands/edges.js';
import type { StatRow } from '../../src/cli/commands/stat.js';
import { cliEntry } from '../../src/util/paths.js';
import { spiffeId, TRUST_DOMAIN } from '../helpers/meshes.js';
import { usePairMesh } from '../helpers/pair-fixture.js';

const TOTAL = 30;
const FAILED = 6;

interface Run {
  /** Resolves when stderr has a line matching `pattern`. */
  stderrLine(pattern: RegExp): Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** `trellis <args>` as a child whose stderr the test can wait on (cli() only returns at exit). */
function startCli(args: string[]): Run {
  const child = spawn(process.execPath, [cliEntry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    done,
    stderrLine: (pattern) =>
      Promise.race([
        new Promise<void>((resolve) => (pattern.test(stderr) ? resolve() : waiters.push({ pattern, resolve }))),
        done.then((r) => {
          throw new Error(`trellis ${args.join(' ')} exited ${r.code} before ${String(pattern)}: ${r.stderr}`);
        }),
      ]),
  };
}

describe('trellis stat and trellis edges', () => {
  const pair = usePairMesh({ name: 'it-stat', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'] });

  it('stat services counts exactly the requests sent during the window', async () => {
    const run = startCli(['stat', 'services', '-o', 'json', '--window', '3s', '--control-plane', pair.mesh.apiUrl]);
    await run.stderrLine(/scraped 2 of 2 proxies/);
    const base = `http://127.0.0.1:${pair.outPort}`;
    for (let i = 0; i < TOTAL; i++) {
      const path = i < FAILED ? '/status/503' : `/ok/${i}`;
      const r = await request(`${base}${path}`, { dispatcher: pair.agent });
      await r.body.text();
      assert.equal(r.statusCode, i < FAILED ? 503 : 200);
    }
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout) as { kind: string; rows: StatRow[] };
    assert.equal(out.kind, 'services');
    const b = out.rows.find((r) => r.namespace === 'default' && r.name === 'b');
    assert.ok(b !== undefined, result.stdout);
    assert.equal(b.requests, TOTAL);
    assert.equal(b.successRate, (TOTAL - FAILED) / TOTAL);
    assert.equal(b.successRate, 0.8);
    assert.ok(b.p50 !== null && b.p99 !== null && b.p50 <= b.p99);
  });

  it('edges shows a -> b with a\'s identity', async () => {
    const r = await pair.mesh.cli(['edges', '-o', 'json', '--control-plane', pair.mesh.apiUrl]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { trustDomain: string; edges: EdgeRow[] };
    assert.equal(out.trustDomain, TRUST_DOMAIN);
    const edge = out.edges.find((e) => e.src === 'default/a' && e.dst === 'default/b');
    assert.ok(edge !== undefined, r.stdout);
    assert.equal(edge.identity, spiffeId('a'));
    // Everything b served since it started: at least the window's 30 (readiness probes are not from a).
    assert.ok(edge.requests >= TOTAL, r.stdout);
  });

  it('an unreachable control plane exits 4', async () => {
    const r = await pair.mesh.cli(['edges', '--control-plane', 'http://127.0.0.1:1']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot reach the control plane/);
  });
});
