/**
 * The policy stages' own work per request, in isolation: the compiled authorizer and rate
 * limiters of bench/policy.ts (20 ALLOW rules, the caller matched by the last; a never-hit
 * total + per-identity limit) called as the authz and ratelimit stages call them, on the
 * request the benchmark sends. Reports ns per request and the heap allocated per request
 * (the hot path should allocate nothing). A floor for what `--policy` can cost, free of
 * sockets and of the machine's other work; the pair's figures are run.ts --policy.
 *
 *   node dist/bench/policy-eval.js [--iterations 2000000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { compileInboundPolicies } from '../src/proxy/policy/compile.js';
import type { PolicyRequest } from '../src/proxy/policy/types.js';
import { policyInbound } from './policy.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.iterations);
const ROUNDS = Number(values.rounds);
const TD = 'bench.trellis.local';
const caller = `spiffe://${TD}/ns/default/sa/client`;

const compiled = compileInboundPolicies(policyInbound(TD, caller));
if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
const policy = compiled.byPort.get('http');
if (policy === undefined) throw new Error('no policy for port http');
const req: PolicyRequest = { peer: caller, method: 'GET', path: '/1k', query: '', host: 'server', headers: ['host', 'server', 'user-agent', 'wrk', 'accept', '*/*'], grpc: false };

/**
 * What the authz and ratelimit stages do for an allowed, admitted request. The stage reads the
 * clock (its cost is counted); the limiter is given a time that moves 1 us per request, so the
 * 1,000,000/s limit is never hit however fast this loop runs.
 */
let tick = 0;
let clockSink = 0;
function once(): boolean {
  clockSink += performance.now();
  const now = (tick += 0.001);
  const d = policy!.authorizer.authorize(req);
  d.counter.inc();
  if (!d.allowed) return false;
  if (policy!.authorizer.isHealthCheck(req)) return true;
  return policy!.admit(req, now) === null;
}

let sink = 0;
for (let i = 0; i < 200_000; i++) if (once()) sink++;
const results: { ns: number; bytes: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const heap0 = process.memoryUsage().heapUsed;
  // CPU time, not wall time: on a shared machine the process does not have a core to itself.
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N; i++) if (once()) sink++;
  const cpu = process.cpuUsage(cpu0);
  const ns = ((cpu.user + cpu.system) * 1000) / N;
  const bytes = (process.memoryUsage().heapUsed - heap0) / N;
  results.push({ ns, bytes });
  process.stdout.write(`round ${r + 1}: ${ns.toFixed(0)} ns CPU per request, heap ${bytes.toFixed(2)} bytes per request (a GC in the round makes it negative)\n`);
}
if (sink !== 200_000 + N * ROUNDS || clockSink <= 0) throw new Error(`a request was refused: ${sink}`);
results.sort((a, b) => a.ns - b.ns);
process.stdout.write(`policy-eval ns_per_request_median=${results[Math.floor(ROUNDS / 2)]!.ns.toFixed(0)} min=${results[0]!.ns.toFixed(0)}\n`);
