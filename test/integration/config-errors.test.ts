/**
 * `trellis up` rejects bad mesh files before starting anything: exit 3, and stderr names
 * trellis.yaml:<line>:<col> and the field path. Start-up failures (a command that does not
 * exist, a workload that exits at once) end `up` with a message that names the culprit.
 * Every case also checks that no process of the mesh folder is left and, for config errors,
 * that the workload never ran (its marker file is absent).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeMeshDir } from '../helpers/mesh.js';
import { runCli, type CliResult } from '../helpers/proc.js';

const MARKER = 'started.marker';

function mesh(workloads: string): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: it-config
spec:
  controlPlane:
    api: 127.0.0.1:0
    push: 127.0.0.1:0
  workloads:
${workloads}`;
}

const GOOD_WORKLOAD = `    - name: api
      command: [node, marker.mjs]
      env: { MARKER_FILE: ${MARKER} }
      ports:
        - name: http
          protocol: http
`;

/** 1-based number of the line holding the nth (1-based) occurrence of needle. */
function lineOf(text: string, needle: string, nth = 1): number {
  let seen = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.includes(needle)) {
      seen += 1;
      if (seen === nth) return i + 1;
    }
  }
  throw new Error(`test bug: ${needle} not in the mesh text`);
}

async function up(meshYaml: string): Promise<{ result: CliResult; markerWritten: boolean }> {
  const md = await writeMeshDir({ meshYaml });
  try {
    const result = await runCli(['up', md.dir, '--state-dir', md.stateDir], { cwd: md.dir, timeoutMs: 60_000 });
    return { result, markerWritten: existsSync(join(md.dir, MARKER)) };
  } finally {
    // Throws (failing the test) if any process of this folder is still running.
    await md.cleanup();
  }
}

/** Asserts exit 3 and a `trellis.yaml:<line>:<col>: <path>` location on stderr; returns the line. */
function assertConfigError(r: CliResult, line: number, pathPrefix: string, markerWritten: boolean): void {
  assert.equal(r.code, 3, `exit code (stderr: ${r.stderr})`);
  assert.ok(!r.stdout.includes('ready '), 'no ready line');
  assert.equal(markerWritten, false, 'the workload must not have been started');
  const m = /trellis\.yaml:(\d+):(\d+): (\S+): (.+)/.exec(r.stderr);
  assert.ok(m, `stderr has trellis.yaml:<line>:<col>: <field>: <message>: ${r.stderr}`);
  assert.equal(Number(m[1]), line, `line in: ${m[0]}`);
  assert.ok(Number(m[2]) >= 1, 'column');
  assert.ok(m[3]!.startsWith(pathPrefix), `field path ${m[3]} should start with ${pathPrefix}`);
}

describe('config errors', () => {
  it('bad protocol: exit 3 at the protocol field', async () => {
    const text = mesh(GOOD_WORKLOAD.replace('protocol: http', 'protocol: htp'));
    const { result, markerWritten } = await up(text);
    assertConfigError(result, lineOf(text, 'protocol: htp'), 'spec.workloads[0].ports[0].protocol', markerWritten);
    assert.match(result.stderr, /http, http2, grpc, tcp/);
  });

  it('unknown field: exit 3 naming it', async () => {
    const text = mesh(GOOD_WORKLOAD.replace('      ports:', '      replicaz: 2\n      ports:'));
    const { result, markerWritten } = await up(text);
    assertConfigError(result, lineOf(text, 'replicaz'), 'spec.workloads[0]', markerWritten);
    assert.match(result.stderr, /replicaz/);
  });

  it('no command and no appPort: exit 3 at the port, saying a workload without command needs the port its app listens on', async () => {
    // Without `command` something else runs the app (docs/mesh-file.md), so its port must be given.
    const text = mesh(GOOD_WORKLOAD.replace('      command: [node, marker.mjs]\n', '').replace(`      env: { MARKER_FILE: ${MARKER} }\n`, ''));
    const { result, markerWritten } = await up(text);
    assertConfigError(result, lineOf(text, '- name: http'), 'spec.workloads[0].ports[0].appPort', markerWritten);
    assert.match(result.stderr, /without `command`/);
  });

  it('YAML syntax error: exit 3 with file:line', async () => {
    const text = mesh(GOOD_WORKLOAD.replace('[node, marker.mjs]', '[node, marker.mjs'));
    const { result, markerWritten } = await up(text);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(markerWritten, false);
    const m = /trellis\.yaml:(\d+):(\d+): /.exec(result.stderr);
    assert.ok(m, `stderr has trellis.yaml:<line>:<col>: ${result.stderr}`);
    // The parser may report the unclosed flow sequence where it opens or where it notices.
    assert.ok(Number(m[1]) >= lineOf(text, '[node, marker.mjs') && Number(m[1]) <= text.split('\n').length, `line ${m[1]}`);
  });

  it('duplicate workload name: exit 3 at the second name', async () => {
    const text = mesh(GOOD_WORKLOAD + GOOD_WORKLOAD);
    const { result, markerWritten } = await up(text);
    assertConfigError(result, lineOf(text, '- name: api', 2), 'spec.workloads[1].name', markerWritten);
    assert.match(result.stderr, /duplicate/i);
  });

  it('upstream to an unknown service: exit 3 at the upstream', async () => {
    const text = mesh(`${GOOD_WORKLOAD}      upstreams:\n        - service: nope\n          port: http\n`);
    const { result, markerWritten } = await up(text);
    assertConfigError(result, lineOf(text, 'service: nope'), 'spec.workloads[0].upstreams[0].service', markerWritten);
    assert.match(result.stderr, /nope/);
  });

  it('a command binary that does not exist: up fails naming it, nothing left running', async () => {
    const text = mesh(GOOD_WORKLOAD.replace('[node, marker.mjs]', '[trellis-no-such-binary-4711]'));
    const { result } = await up(text);
    assert.notEqual(result.code, 0, result.stderr);
    assert.notEqual(result.code, null, `up was killed by the 60 s bound: ${result.stderr}`);
    assert.ok(!result.stdout.includes('ready '), 'no ready line');
    assert.match(result.stderr, /trellis-no-such-binary-4711/);
  });

  it('a workload that exits at once: up fails naming the workload and its exit code', async () => {
    const quitter = `    - name: quitter
      command: [node, -e, "require('fs').writeFileSync('${MARKER}', 'x'); process.exit(7)"]
      ports:
        - name: http
          protocol: http
`;
    const { result, markerWritten } = await up(mesh(quitter));
    assert.equal(markerWritten, true, 'control: the workload did run (so the marker check of the other cases means something)');
    assert.notEqual(result.code, 0, result.stderr);
    assert.notEqual(result.code, null, `up was killed by the 60 s bound: ${result.stderr}`);
    assert.ok(!result.stdout.includes('ready '), 'no ready line');
    assert.match(result.stderr, /quitter/);
    assert.match(result.stderr, /\b7\b/, 'the exit code is in the message');
  });
});
