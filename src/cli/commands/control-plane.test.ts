import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import type { TracingSettings } from '../../config/types.js';
import { ExitCode } from '../../errors.js';
import { parse } from '../args.js';
import { tracingFlags } from '../control-plane-process.js';
import type { Io } from '../io.js';
import { runCli } from '../run.js';
import { tracingOptions } from './control-plane.js';

const TRACE_FLAGS = { 'trace-sampling': { type: 'string' }, 'trace-collector': { type: 'string' }, 'no-tracing': { type: 'boolean' } } as const;

function readBack(argv: string[]): TracingSettings | null | undefined {
  const p = parse(argv, TRACE_FLAGS, 'usage', () => {}, 0);
  assert.ok(p !== null);
  return tracingOptions(p);
}

describe('control-plane: tracing flags', () => {
  it('what `trellis up` passes reads back as the mesh file said', () => {
    const cases: TracingSettings[] = [
      { samplingRatio: 0.01, collector: null },
      { samplingRatio: 0, collector: null },
      { samplingRatio: 0.125, collector: 'http://127.0.0.1:4318/v1/traces' },
    ];
    for (const t of cases) assert.deepEqual(readBack(tracingFlags(t)), t);
    assert.deepEqual(tracingFlags(null), ['--no-tracing']);
    assert.equal(readBack(tracingFlags(null)), null);
    assert.deepEqual(tracingFlags(undefined), []);
    assert.equal(readBack([]), undefined, "no flags: the control plane's default (1% to itself on the file store, off over etcd)");
    assert.deepEqual(readBack(['--trace-sampling', '0.01']), { samplingRatio: 0.01, collector: null }, 'a sampling alone: to the control plane itself');
  });

  it('bad values are usage errors naming the flag', async () => {
    const base = ['control-plane', '--state-dir', 'x', '--api', '127.0.0.1:0', '--push', '127.0.0.1:0', '--trust-domain', 't.local', '--cert-ttl', '1h'];
    const cases: [string[], RegExp][] = [
      [['--trace-sampling', '2'], /--trace-sampling must be a number from 0 to 1, got "2"/],
      [['--trace-sampling', 'half'], /--trace-sampling must be a number from 0 to 1/],
      [['--trace-sampling', ''], /--trace-sampling must be a number from 0 to 1/],
      [['--trace-collector', '127.0.0.1:4318'], /--trace-collector must be an http:\/\/ or https:\/\/ URL/],
      [['--no-tracing', '--trace-sampling', '0.5'], /--no-tracing cannot be combined/],
      [['--store', 'http://127.0.0.1:2379', '--ca-dir', 'ca'], /--store http:\/\/127.0.0.1:2379: not an etcd:\/\/ URL/],
      [['--store', 'etcd://127.0.0.1:2379,nope'], /"nope" is not host:port/],
      [['--store', 'etcd://127.0.0.1:2379'], /needs one of --ca-seal-key-file FILE or --ca-dir DIR/],
      [['--store', 'etcd://127.0.0.1:2379', '--ca-dir', 'a', '--ca-seal-key-file', 'b'], /needs one of --ca-seal-key-file FILE or --ca-dir DIR/],
      [['--ca-dir', 'ca'], /--ca-seal-key-file and --ca-dir go with --store/],
    ];
    for (const [extra, re] of cases) {
      let stderr = '';
      const io: Io = { cwd: tmpdir(), env: {}, out: () => {}, err: (t: string) => void (stderr += t) };
      assert.equal(await runCli([...base, ...extra], io), ExitCode.Usage, extra.join(' '));
      assert.match(stderr, re, extra.join(' '));
    }
  });
});
