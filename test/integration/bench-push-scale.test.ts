/**
 * `npm run bench:push-scale` at a small size, so the benchmark cannot rot unnoticed (it did
 * once: its route changes used the agent token after the API's access levels refused that).
 * It also checks what the benchmark itself checks of the control plane: every change reaches
 * every proxy it affects, and no proxy it does not affect gets a snapshot. No timing is
 * asserted; the figures belong to bench/.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runNodeScript } from '../helpers/proc.js';

const benchScript = fileURLToPath(new URL('../../bench/push-scale.js', import.meta.url));

describe('bench push-scale, small', () => {
  it('runs end to end: every change ACKed by the proxies it affects, none pushed to others, one summary line', async () => {
    const r = await runNodeScript(benchScript, ['--proxies', '20', '--replicas', '2', '--changes', '8', '--workers', '1', '--gap-ms', '50', '--no-real-proxy'], { timeoutMs: 120_000 });
    const output = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.code, 0, output.slice(-3000));
    assert.match(r.stdout, /extra pushes \(to proxies a change did not affect\): 0; changes not ACKed in 30 s: 0/, output.slice(-3000));
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(last, /^push-scale proxies=20 endpoints=200 change_p50_ms=\d+(\.\d+)? change_p99_ms=\d+(\.\d+)? cp_rss_mb=\d+(\.\d+)?$/);
  });
});
