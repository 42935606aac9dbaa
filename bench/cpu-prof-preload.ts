/**
 * Preload for profiling the Trellis proxies under load (`run.js --cpu-prof`).
 *
 * Node 20 refuses `--cpu-prof` in NODE_OPTIONS, and the proxies are started by the agent, so the
 * benchmark passes `NODE_OPTIONS=--import=<this file>` to `trellis up` instead. In a
 * `trellis proxy` process only, this starts the V8 CPU profiler through an in-process inspector
 * session; on SIGUSR2 (sent by the benchmark after the measured phases) it writes
 * `<TRELLIS_BENCH_CPU_PROF_DIR>/proxy-<pid>.cpuprofile` and keeps running. Every other process
 * (CLI, control plane, agent, apps) is left alone. A bench-only tool: it reads the environment
 * at import time on purpose.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TRELLIS_BENCH_CPU_PROF_DIR;
const isProxy = process.argv.includes('proxy') && process.argv.some((a) => a.includes('bootstrap'));

if (dir !== undefined && dir !== '' && isProxy) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable', () => {
    session.post('Profiler.setSamplingInterval', { interval: 200 }, () => {
      session.post('Profiler.start');
    });
  });
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err === null && res !== undefined) writeFileSync(join(dir, `proxy-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
