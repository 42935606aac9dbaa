#!/usr/bin/env node
// Runs every compiled test file with node's own test runner.
// Node 20's `--test` takes no globs, so the files are listed here: unit tests sit
// beside their modules (dist/src/**/*.test.js), integration and end-to-end tests
// under dist/test/.
// Unit test files run two at a time (one per core: 153 s serially, 87 s so); integration
// and end-to-end files run one at a time, since each starts whole meshes, etcd clusters or
// network-namespace hosts and the CI machine has two cores. The last line adds both runs up
// as `tests: N passed, N failed, N skipped`.
// --test-force-exit: a file whose tests have all finished exits even if something left a timer
// or a handle behind. Without it one such file holds up the whole serial run: once,
// etcd-control-plane.test.ts finished its tests and CI waited on it until stopped. (The two
// timers seen then were the etcd helper's 10 s kill escalation, since cleared, which explains
// a 10 s wait, not that hang; its cause is not known.)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

function collect(dir, out) {
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** Runs `files` with `concurrency` files at a time; streams the report and counts its summary. */
function run(files, concurrency) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-force-exit', '--test-reporter=spec', ...files], { stdio: ['inherit', 'pipe', 'inherit'] });
    const counts = { pass: 0, fail: 0, skipped: 0 };
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (tail + chunk.toString('utf8')).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ℹ (pass|fail|skipped) (\d+)\s*$/.exec(line);
        if (m !== null) counts[m[1]] = Number(m[2]);
      }
    });
    child.on('close', (code) => resolve({ code: code ?? 1, counts }));
  });
}

const filter = process.argv.slice(2);
const pick = (files) => (filter.length === 0 ? files : files.filter((f) => filter.some((x) => f.includes(x))));
const unit = pick(collect('dist/src', []).sort());
const integration = pick(collect('dist/test', []).sort());
if (unit.length + integration.length === 0) {
  console.error('run-tests: no test files found under dist/ (did `tsc` run?)');
  process.exit(1);
}
const results = [];
if (unit.length > 0) results.push(await run(unit, 2));
if (integration.length > 0) results.push(await run(integration, 1));
const total = { pass: 0, fail: 0, skipped: 0 };
for (const r of results) for (const k of Object.keys(total)) total[k] += r.counts[k];
const failed = results.some((r) => r.code !== 0);
process.stdout.write(`tests: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped\n`);
process.exit(failed ? 1 : 0);
