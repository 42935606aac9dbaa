/**
 * `npm run bench`: Trellis proxy pair vs. HAProxy pair vs. a direct call, on this machine.
 *
 * Scenarios, one at a time (see bench/README.md):
 *   direct   load -> bench server
 *   haproxy  load -> haproxy A -> mTLS -> haproxy B -> bench server   (nbthread 1 each)
 *   pipe     load -> Node pipe A -> mTLS -> Node pipe B -> bench server (net + tls, no HTTP parsing:
 *            the limit for a Node proxy pair)
 *   trellis  load -> Trellis outbound proxy -> mTLS -> Trellis inbound proxy -> bench server
 * For each: a closed-loop full-load run with wrk (requests/s, p50, p99, proxy RSS and CPU), then
 * an open-loop run at a constant rate (default 1000 rps, 1 KB responses) with our own generator
 * (latency from each request's scheduled start; proxy CPU-seconds per 1000 requests).
 *
 * Flags: --quick  --duration <s>  --open-duration <s>  --warmup <s>  --connections <n>
 *        --rate <rps>  --only direct,haproxy,pipe,trellis  --cpu-prof (profile the Trellis processes)
 *        --telemetry off|default|log|full (tracing and access log of the Trellis pair; metrics always on)
 *        --tap (a live tap, matching every request, open on both Trellis proxies throughout)
 *        --policy [--rounds n]: direct, then the Trellis pair alternately without and with 20 ALLOW
 *        rules and a never-hit rate limit, n rounds (default 6) of each (bench/policy.ts); the
 *        last line is then `policy throughput_loss=.. p99_added_ms=.. goal=met|missed`
 * The last stdout line is always `ratio throughput=<x> p99=<y> rss=<z> vs_pipe=<w>` (Trellis /
 * HAProxy, and Trellis / pipe requests/s).
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir, availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { startChild, stopAll, stopChild, killAllSync, waitForLine } from './children.js';
import { runWrk, type WrkResult } from './wrk.js';
import { runOpenLoop, type OpenLoopResult } from './loadgen.js';
import { RssSampler, cpuSeconds, waitForQuiet, machineCpuSeconds } from './proc.js';
import { makePki, type BenchPki } from './certs.js';
import { startHaproxyPair } from './haproxy.js';
import { startPipePair } from './pipe-pair.js';
import { BENCH_TRUST_DOMAIN, startTrellisPair, type TelemetryMode } from './trellis.js';
import { POLICY_RULES, policyCounts, policySummary, setPolicies, type PolicyCounts, type PolicyRun } from './policy.js';
import { openTaps, type OpenTaps } from './tap-reader.js';
import { freePort, sleep } from './net-util.js';
import { packageRoot } from '../src/util/paths.js';

const SCENARIOS = ['direct', 'haproxy', 'pipe', 'trellis'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

interface Options {
  quick: boolean;
  durationS: number;
  openDurationS: number;
  warmupS: number;
  connections: number;
  rate: number;
  only: ScenarioName[];
  cpuProf: boolean;
  /** Tracing and access log of the Trellis pair (bench/trellis.ts TelemetryMode). */
  telemetry: TelemetryMode;
  /** Keep a live tap open on both Trellis proxies (bench/tap-reader.ts). */
  tap: boolean;
  /** Longest wait for a quiet machine before each measured phase, seconds. */
  quietWaitS: number;
  /** --policy: the cost of inbound authorization and rate limits (bench/policy.ts). */
  policy: boolean;
  /** --policy: runs of each side. */
  rounds: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, durationS: 10, openDurationS: 10, warmupS: 3, connections: 32, rate: 1000, only: [...SCENARIOS], cpuProf: false, telemetry: 'default', tap: false, quietWaitS: 15, policy: false, rounds: 6 };
  let duration: number | null = null;
  let openDuration: number | null = null;
  let warmup: number | null = null;
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        o.quick = true;
        break;
      case '--duration':
        duration = num(flag, value());
        break;
      case '--open-duration':
        openDuration = num(flag, value());
        break;
      case '--warmup':
        warmup = num(flag, value());
        break;
      case '--connections':
        o.connections = Math.round(num(flag, value()));
        break;
      case '--rate':
        o.rate = num(flag, value());
        break;
      case '--only': {
        const list = (value() ?? '').split(',').filter(Boolean);
        for (const s of list) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`--only: unknown scenario ${s} (one of ${SCENARIOS.join(', ')})`);
        o.only = list as ScenarioName[];
        break;
      }
      case '--quiet-wait':
        o.quietWaitS = Number(value());
        if (!Number.isFinite(o.quietWaitS) || o.quietWaitS < 0) throw new Error('--quiet-wait needs a number of seconds >= 0');
        break;
      case '--cpu-prof':
        o.cpuProf = true;
        break;
      case '--tap':
        o.tap = true;
        break;
      case '--policy':
        o.policy = true;
        break;
      case '--rounds':
        o.rounds = Math.min(20, Math.round(num(flag, value())));
        break;
      case '--telemetry': {
        const t = value();
        if (t !== 'off' && t !== 'default' && t !== 'log' && t !== 'full') throw new Error('--telemetry needs off, default, log or full');
        o.telemetry = t;
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write('usage: node dist/bench/run.js [--quick] [--duration s] [--open-duration s] [--warmup s] [--connections n] [--rate rps] [--only direct,haproxy,pipe,trellis] [--cpu-prof] [--quiet-wait s] [--telemetry off|default|log|full] [--tap] [--policy [--rounds n]]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  if (o.quick) {
    o.durationS = 3;
    o.openDurationS = 3;
    o.warmupS = 1;
    o.quietWaitS = Math.min(o.quietWaitS, 5);
  }
  if (duration !== null) {
    o.durationS = duration;
    if (openDuration === null) o.openDurationS = duration;
  }
  if (openDuration !== null) o.openDurationS = openDuration;
  if (warmup !== null) o.warmupS = warmup;
  // Bounded no matter what the flags say.
  o.durationS = Math.min(o.durationS, 120);
  o.openDurationS = Math.min(o.openDurationS, 120);
  o.warmupS = Math.min(o.warmupS, 30);
  o.connections = Math.min(Math.max(o.connections, 1), 1024);
  o.rate = Math.min(o.rate, 20000);
  return o;
}

interface ProxyFigures {
  label: string;
  pid: number;
  /** Peak VmRSS while under full load, bytes. */
  rssFullLoad: number | null;
  cpuPer1kFullLoad: number | null;
  cpuPer1kOpenLoop: number | null;
}

interface ScenarioResult {
  /** A scenario, or for --policy `trellis#<round>` / `trellis+policy#<round>`. */
  name: string;
  description: string;
  fullLoad: WrkResult;
  openLoop: {
    scheduled: number;
    completed: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    achievedRps: number;
    latencyMs: ReturnType<OpenLoopResult['latency']['summary']>;
    serviceMs: ReturnType<OpenLoopResult['latency']['summary']>;
    sendLagMs: ReturnType<OpenLoopResult['latency']['summary']>;
    /** Every latency sample (for pooling; left out of the results file). */
    latency: OpenLoopResult['latency'];
  };
  proxies: ProxyFigures[];
  /** RSS of the bench server at full load (for reference), bytes. */
  serverRss: number | null;
  /**
   * Shared-machine check: the busy fraction of all CPUs just before each measured phase (after
   * waiting up to --quiet-wait for it to drop below 15%), and the CPU-seconds used during the
   * open-loop window by processes other than the proxies, the server and this process.
   */
  interference: {
    beforeFullLoad: { busy: number | null; waitedMs: number };
    beforeOpenLoop: { busy: number | null; waitedMs: number };
    otherCpuSecondsOpenLoop: number | null;
    /** Same for the full-load window (wrk's own CPU counted as ours). */
    otherCpuSecondsFullLoad: number | null;
  };
}

interface Target {
  port: number;
  proxies: { label: string; pid: number }[];
  serverPid: number | null;
}

const serverScript = fileURLToPath(new URL('./server.js', import.meta.url));
const preloadScript = fileURLToPath(new URL('./cpu-prof-preload.js', import.meta.url));

async function startServer(): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const child = startChild('bench server', process.execPath, [serverScript, '--port', '0']);
  const m = await waitForLine(child, /^listening [^:]+:(\d+)/, 10000, 'bench server');
  return { port: Number(m[1]), pid: child.pid!, stop: () => stopChild(child) };
}

function cpuOf(pids: number[]): Map<number, number | null> {
  return new Map(pids.map((p) => [p, cpuSeconds(p)]));
}

async function measure(name: string, description: string, t: Target, o: Options, log: (s: string) => void): Promise<ScenarioResult> {
  const url = `http://127.0.0.1:${t.port}/`;
  const pids = t.proxies.map((p) => p.pid);
  log(`[${name}] warm-up ${o.warmupS}s`);
  await runWrk(url, { threads: 1, connections: o.connections, durationS: o.warmupS });
  // Same rule as the open loop below: if processes outside the benchmark used more than 10% of
  // one CPU during the full-load run, run it once more and keep the cleaner of the two.
  const ours = t.serverPid === null ? pids : [...pids, t.serverPid];
  let bestFull: { full: WrkResult; sampler: RssSampler; cpu0: Map<number, number | null>; cpu1: Map<number, number | null>; otherCpuFull: number | null; quiet1: { busy: number | null; waitedMs: number } } | null = null;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const quiet1 = await quiet(name, o, log);
    log(`[${name}] full load: wrk -t1 -c${o.connections} -d${o.durationS}s --latency${attempt > 1 ? ' (again: the first run was disturbed)' : ''}`);
    const sampler = new RssSampler(ours, 500);
    const cpu0 = cpuOf(ours);
    const self0 = process.cpuUsage();
    const machine0 = machineCpuSeconds();
    sampler.start();
    const full = await runWrk(url, { threads: 1, connections: o.connections, durationS: o.durationS });
    sampler.stop();
    const machine1 = machineCpuSeconds();
    const self1 = process.cpuUsage(self0);
    const cpu1 = cpuOf(ours);
    let otherCpuFull: number | null = null;
    if (machine0 !== null && machine1 !== null && full.wrkCpuSeconds !== null) {
      let mine = (self1.user + self1.system) / 1e6 + full.wrkCpuSeconds;
      for (const p of ours) mine += (cpu1.get(p) ?? 0) - (cpu0.get(p) ?? 0);
      otherCpuFull = Math.max(0, machine1 - machine0 - mine);
    }
    if (bestFull === null || (otherCpuFull ?? 0) < (bestFull.otherCpuFull ?? 0)) bestFull = { full, sampler, cpu0, cpu1, otherCpuFull, quiet1 };
    if (otherCpuFull === null || otherCpuFull <= 0.1 * o.durationS) break;
    log(`[${name}] other processes used ${otherCpuFull.toFixed(2)} CPU-s during the full-load run`);
  }
  const { full, sampler, cpu0, cpu1, otherCpuFull, quiet1 } = bestFull!;

  const kbPath = '/1k';
  log(`[${name}] open loop warm-up ${o.warmupS}s at ${o.rate} rps`);
  await runOpenLoop({ host: '127.0.0.1', port: t.port, path: kbPath, rate: o.rate, durationMs: o.warmupS * 1000, connections: 16, drainMs: 3000 });
  // The open loop is short and sensitive to other work on a shared machine: if processes other
  // than ours used more than 10% of one CPU during it, run it once more and keep the cleaner run.
  let best: { open: OpenLoopResult; cpu2: Map<number, number | null>; cpu3: Map<number, number | null>; otherCpu: number | null; quiet2: { busy: number | null; waitedMs: number } } | null = null;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const quiet2 = await quiet(name, o, log);
    log(`[${name}] open loop: ${o.rate} rps, 1 KB responses, ${o.openDurationS}s${attempt > 1 ? ' (again: the first run was disturbed)' : ''}`);
    const cpu2 = cpuOf(ours);
    const self2 = process.cpuUsage();
    const machine2 = machineCpuSeconds();
    const open = await runOpenLoop({ host: '127.0.0.1', port: t.port, path: kbPath, rate: o.rate, durationMs: o.openDurationS * 1000, connections: 16, drainMs: 5000 });
    const machine3 = machineCpuSeconds();
    const self3 = process.cpuUsage(self2);
    const cpu3 = cpuOf(ours);
    let otherCpu: number | null = null;
    if (machine2 !== null && machine3 !== null) {
      let mine = (self3.user + self3.system) / 1e6;
      for (const p of ours) mine += (cpu3.get(p) ?? 0) - (cpu2.get(p) ?? 0);
      otherCpu = Math.max(0, machine3 - machine2 - mine);
    }
    if (best === null || (otherCpu ?? 0) < (best.otherCpu ?? 0)) best = { open, cpu2, cpu3, otherCpu, quiet2 };
    if (otherCpu === null || otherCpu <= 0.1 * o.openDurationS) break;
    log(`[${name}] other processes used ${otherCpu.toFixed(2)} CPU-s during the open loop`);
  }
  const { open, cpu2, cpu3, otherCpu, quiet2 } = best!;

  const per1k = (a: number | null | undefined, b: number | null | undefined, reqs: number): number | null =>
    a == null || b == null || reqs <= 0 ? null : (b - a) / (reqs / 1000);
  return {
    name,
    description,
    fullLoad: full,
    openLoop: {
      scheduled: open.scheduled,
      completed: open.completed,
      errors: open.errors,
      timeouts: open.timeouts,
      non2xx: open.non2xx,
      achievedRps: open.achievedRps,
      latencyMs: open.latency.summary(),
      serviceMs: open.service.summary(),
      sendLagMs: open.sendLag.summary(),
      latency: open.latency,
    },
    proxies: t.proxies.map((p) => ({
      label: p.label,
      pid: p.pid,
      rssFullLoad: sampler.peak(p.pid),
      cpuPer1kFullLoad: per1k(cpu0.get(p.pid), cpu1.get(p.pid), full.requests),
      cpuPer1kOpenLoop: per1k(cpu2.get(p.pid), cpu3.get(p.pid), open.completed),
    })),
    serverRss: t.serverPid === null ? null : sampler.peak(t.serverPid),
    interference: { beforeFullLoad: quiet1, beforeOpenLoop: quiet2, otherCpuSecondsOpenLoop: otherCpu, otherCpuSecondsFullLoad: otherCpuFull },
  };
}

/** A scenario as the results file keeps it: wrk's output as lines, no latency samples. */
function resultForJson(r: ScenarioResult): unknown {
  const { latency: _samples, ...openLoop } = r.openLoop;
  return { ...r, fullLoad: { ...r.fullLoad, raw: r.fullLoad.raw.split('\n') }, openLoop };
}

async function quiet(name: string, o: Options, log: (s: string) => void): Promise<{ busy: number | null; waitedMs: number }> {
  const q = await waitForQuiet(0.15, o.quietWaitS * 1000);
  if (q.busy !== null && q.busy >= 0.15) log(`[${name}] WARNING: machine still ${(q.busy * 100).toFixed(0)}% busy after waiting ${(q.waitedMs / 1000).toFixed(0)} s; figures will be disturbed`);
  else if (q.waitedMs > 1500) log(`[${name}] waited ${(q.waitedMs / 1000).toFixed(0)} s for other work on the machine to finish`);
  return q;
}

function machineInfo(): Record<string, string | number> {
  let cpuModel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    /* not Linux */
  }
  const ver = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim() ?? 'unknown';
  };
  return {
    nproc: availableParallelism(),
    cpuModel,
    kernel: release(),
    node: process.version,
    haproxy: ver('haproxy', ['-v']),
    wrk: ver('wrk', ['--version']),
  };
}

// ---------- formatting ----------
const f1 = (v: number | null | undefined, d = 2): string => (v == null || !Number.isFinite(v) ? '-' : v.toFixed(d));
const mb = (v: number | null | undefined): string => (v == null ? '-' : (v / (1024 * 1024)).toFixed(1));
const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? pad(c, w[i]!) : lpad(c, w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** Floor for the "added p99" denominator so a pair that adds ~nothing does not make the ratio explode. */
const ADDED_FLOOR_MS = 0.01;

function meanRss(r: ScenarioResult | undefined): number | null {
  if (r === undefined) return null;
  const v = r.proxies.map((p) => p.rssFullLoad).filter((x): x is number => x !== null);
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
}

function report(results: ScenarioResult[], o: Options): { text: string; ratio: string; ratios: Record<string, number | null> } {
  const out: string[] = [];
  const direct = results.find((r) => r.name === 'direct');
  out.push('');
  out.push(`Full load, closed loop: wrk -t1 -c${o.connections} -d${o.durationS}s --latency, 2-byte response body, HTTP/1.1 keep-alive`);
  out.push(
    table(
      ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'RSS A MB', 'RSS B MB', 'CPU-s/1k A', 'CPU-s/1k B'],
      results.map((r) => [
        r.name,
        f1(r.fullLoad.rps, 0),
        f1(r.fullLoad.p50Ms, 3),
        f1(r.fullLoad.p99Ms, 3),
        String(r.fullLoad.non2xx + Object.values(r.fullLoad.socketErrors).reduce((a, b) => a + b, 0)),
        mb(r.proxies[0]?.rssFullLoad),
        mb(r.proxies[1]?.rssFullLoad),
        f1(r.proxies[0]?.cpuPer1kFullLoad, 3),
        f1(r.proxies[1]?.cpuPer1kFullLoad, 3),
      ]),
    ),
  );
  out.push('');
  out.push(`Open loop: ${o.rate} req/s constant, 1 KB response body, ${o.openDurationS}s, 16 keep-alive connections; latency from each request's scheduled start`);
  out.push(
    table(
      ['scenario', 'achieved/s', 'p50 ms', 'p99 ms', 'max ms', '+p50 ms', '+p99 ms', '+max ms', 'failed', 'CPU-s/1k A', 'CPU-s/1k B'],
      results.map((r) => {
        const l = r.openLoop.latencyMs;
        const add = (k: 'p50' | 'p99' | 'max'): string => (direct === undefined || r.name === 'direct' ? '-' : f1(l[k] - direct.openLoop.latencyMs[k], 3));
        return [
          r.name,
          f1(r.openLoop.achievedRps, 0),
          f1(l.p50, 3),
          f1(l.p99, 3),
          f1(l.max, 3),
          add('p50'),
          add('p99'),
          add('max'),
          String(r.openLoop.errors + r.openLoop.timeouts + r.openLoop.non2xx),
          f1(r.proxies[0]?.cpuPer1kOpenLoop, 3),
          f1(r.proxies[1]?.cpuPer1kOpenLoop, 3),
        ];
      }),
    ),
  );
  out.push('');
  out.push('A = caller-side proxy (plain HTTP in, mTLS out), B = server-side proxy (mTLS in, plain HTTP out).');
  out.push('HAProxy runs with nbthread 1 per instance: a Trellis proxy is one Node.js event loop (single-threaded).');
  out.push('pipe = two Node processes that only pipe bytes (net + tls, same mTLS hop, no HTTP parsing): the limit for a Node pair. vs_pipe = Trellis / pipe full-load req/s.');
  out.push(`RSS = peak VmRSS sampled every 0.5 s under full load. CPU-s/1k = (utime+stime) / (requests/1000). +pXX = added over direct at ${o.rate} rps.`);
  out.push('Open-loop failed = connection errors + non-2xx + requests still unanswered 5 s after the last scheduled send; percentiles cover answered requests.');
  out.push(
    'Other work on the machine, CPU-s used by processes outside the benchmark during full load / open loop (0 on a quiet machine): ' +
      results.map((r) => `${r.name} ${f1(r.interference.otherCpuSecondsFullLoad, 1)} / ${f1(r.interference.otherCpuSecondsOpenLoop, 1)}`).join('; '),
  );
  if (direct !== undefined) {
    const lag = direct.openLoop.sendLagMs;
    out.push(`Generator send lag (direct run): p50 ${f1(lag.p50, 3)} ms, p99 ${f1(lag.p99, 3)} ms (Node timers; included equally in every scenario).`);
  }

  const h = results.find((r) => r.name === 'haproxy');
  const t = results.find((r) => r.name === 'trellis');
  const thr = h !== undefined && t !== undefined ? t.fullLoad.rps / h.fullLoad.rps : null;
  let p99: number | null = null;
  if (h !== undefined && t !== undefined && direct !== undefined) {
    const addT = Math.max(ADDED_FLOOR_MS, t.openLoop.latencyMs.p99 - direct.openLoop.latencyMs.p99);
    const addH = Math.max(ADDED_FLOOR_MS, h.openLoop.latencyMs.p99 - direct.openLoop.latencyMs.p99);
    p99 = addT / addH;
  }
  const rT = meanRss(t);
  const rH = meanRss(h);
  const rss = rT !== null && rH !== null ? rT / rH : null;
  const pipe = results.find((r) => r.name === 'pipe');
  const vsPipe = pipe !== undefined && t !== undefined ? t.fullLoad.rps / pipe.fullLoad.rps : null;
  const fmt = (v: number | null): string => (v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(2));
  return {
    text: out.join('\n'),
    ratio: `ratio throughput=${fmt(thr)} p99=${fmt(p99)} rss=${fmt(rss)} vs_pipe=${fmt(vsPipe)}`,
    ratios: { throughput: thr, p99Added: p99, rss, vsPipe },
  };
}

// ---------- --policy ----------
/**
 * direct once (for the added-over-direct columns), then one Trellis pair measured `rounds`
 * times without and with the policies of bench/policy.ts, alternating A B, B A, ...
 */
async function policyBench(o: Options, machine: Record<string, string | number>, log: (s: string) => void): Promise<number> {
  const results: ScenarioResult[] = [];
  const runs: PolicyRun[] = [];
  const srv = await startServer();
  try {
    results.push(await measure('direct', 'load -> bench server', { port: srv.port, proxies: [], serverPid: srv.pid }, o, log));
  } finally {
    await srv.stop();
  }
  log('[trellis] starting the mesh with `trellis up`');
  log(`[trellis] telemetry: ${o.telemetry}`);
  const pair = await startTrellisPair(tmp!, await freePort(), {}, o.telemetry);
  const policyPair = { apiUrl: pair.apiUrl, stateDir: pair.stateDir, cwd: pair.cwd, serverAdminUrl: pair.serverAdminUrl, trustDomain: BENCH_TRUST_DOMAIN };
  let failed: string | null = null;
  try {
    for (let round = 1; round <= o.rounds; round++) {
      const order = round % 2 === 1 ? [false, true] : [true, false];
      for (const on of order) {
        await setPolicies(policyPair, on);
        const name = `trellis${on ? '+policy' : ''}#${round}`;
        const before = on ? await policyCounts(pair.serverAdminUrl) : null;
        const r = await measure(
          name,
          on ? `the Trellis pair with ${POLICY_RULES} ALLOW rules and a never-hit rate limit on the server` : 'the Trellis pair, no policies',
          {
            port: pair.port,
            proxies: [{ label: 'trellis client proxy', pid: pair.clientProxyPid }, { label: 'trellis server proxy', pid: pair.serverProxyPid }],
            serverPid: pair.serverAppPid,
          },
          o,
          log,
        );
        results.push(r);
        let decisions: PolicyCounts | null = null;
        if (before !== null) {
          const after = await policyCounts(pair.serverAdminUrl);
          decisions = { allowed: after.allowed - before.allowed, denied: after.denied - before.denied, admitted: after.admitted - before.admitted, limited: after.limited - before.limited };
          if (decisions.denied > 0 || decisions.limited > 0 || decisions.allowed === 0) failed ??= `${name}: the policies did not just allow and admit every request: ${JSON.stringify(decisions)}`;
        }
        runs.push({ round, policy: on, fullLoadRps: r.fullLoad.rps, openLoopP99Ms: r.openLoop.latencyMs.p99, openLoopLatency: r.openLoop.latency, decisions });
      }
    }
  } catch (e) {
    failed = (e as Error).stack ?? String(e);
    log(`[trellis] FAILED: ${(e as Error).message}`);
  } finally {
    await stopChild(pair.cli, 15000);
  }
  const rep = report(results, o);
  const summary = policySummary(runs, o.rate);
  process.stdout.write(`${rep.text}\n${summary.text}\n`);
  if (failed !== null) process.stdout.write(`\nFAILED: ${failed.split('\n')[0]}\n`);
  const resultsDir = join(packageRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `policy-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const forJson = results.map(resultForJson);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), machine, options: o, results: forJson, runs: runs.map(({ openLoopLatency: _samples, ...run }) => run), summary: summary.figures, failed, summaryLine: summary.line }, null, 2) + '\n');
  process.stdout.write(`\nresults: ${file}\n${summary.line}\n`);
  return failed === null ? 0 : 1;
}

// ---------- main ----------
let tmp: string | null = null;
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll(5000);
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  })();
  return cleaning;
}
process.on('exit', () => {
  killAllSync();
  if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping everything it started\n`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const log = (s: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
  tmp = mkdtempSync(join(tmpdir(), 'trellis-bench-'));
  const machine = machineInfo();
  log(`machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}, ${machine.haproxy}`);
  const results: ScenarioResult[] = [];
  const failures: Record<string, string> = {};
  const profDir = join(tmp, 'cpu-prof');
  let pki: BenchPki | null = null;
  const pkiOnce = (): BenchPki => {
    if (pki === null) {
      const pkiDir = join(tmp!, 'pki');
      mkdirSync(pkiDir, { recursive: true });
      pki = makePki(pkiDir);
    }
    return pki;
  };

  if (o.policy) return policyBench(o, machine, log);

  for (const name of o.only) {
    try {
      if (name === 'direct') {
        const srv = await startServer();
        try {
          results.push(await measure(name, 'load -> bench server', { port: srv.port, proxies: [], serverPid: srv.pid }, o, log));
        } finally {
          await srv.stop();
        }
      } else if (name === 'haproxy') {
        const srv = await startServer();
        const ports = { a: await freePort(), b: await freePort(), server: srv.port };
        const pair = await startHaproxyPair(tmp, pkiOnce(), ports);
        try {
          results.push(
            await measure(
              name,
              'load -> haproxy A (plain) -> mTLS -> haproxy B -> bench server; nbthread 1 each',
              { port: pair.port, proxies: [{ label: 'haproxy A', pid: pair.a.pid! }, { label: 'haproxy B', pid: pair.b.pid! }], serverPid: srv.pid },
              o,
              log,
            ),
          );
        } finally {
          await stopChild(pair.a);
          await stopChild(pair.b);
          await srv.stop();
        }
      } else if (name === 'pipe') {
        const srv = await startServer();
        const pair = await startPipePair(pkiOnce(), srv.port);
        try {
          results.push(
            await measure(
              name,
              'load -> Node pipe A (plain) -> mTLS -> Node pipe B -> bench server; net + tls only, no HTTP parsing',
              { port: pair.port, proxies: [{ label: 'pipe A', pid: pair.a.pid! }, { label: 'pipe B', pid: pair.b.pid! }], serverPid: srv.pid },
              o,
              log,
            ),
          );
        } finally {
          await stopChild(pair.a);
          await stopChild(pair.b);
          await srv.stop();
        }
      } else {
        const env: NodeJS.ProcessEnv = {};
        if (o.cpuProf) {
          // Node 20 does not allow --cpu-prof in NODE_OPTIONS: a preload profiles the proxies instead.
          mkdirSync(profDir, { recursive: true });
          env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(preloadScript).href}`.trim();
          env.TRELLIS_BENCH_CPU_PROF_DIR = profDir;
        }
        log('[trellis] starting the mesh with `trellis up`');
        log(`[trellis] telemetry: ${o.telemetry}`);
        const pair = await startTrellisPair(tmp, await freePort(), env, o.telemetry);
        let taps: OpenTaps | null = null;
        try {
          if (o.tap) {
            taps = await openTaps([pair.clientAdminUrl, pair.serverAdminUrl]);
            log('[trellis] a tap matching every request is open on both proxies');
          }
          results.push(
            await measure(
              name,
              'load -> Trellis outbound proxy -> mTLS -> Trellis inbound proxy -> bench server (started by `trellis up`)',
              {
                port: pair.port,
                proxies: [{ label: 'trellis client proxy', pid: pair.clientProxyPid }, { label: 'trellis server proxy', pid: pair.serverProxyPid }],
                serverPid: pair.serverAppPid,
              },
              o,
              log,
            ),
          );
          if (o.cpuProf) {
            // The preload writes proxy-<pid>.cpuprofile on SIGUSR2, covering warm-up and both measured phases.
            for (const pid of [pair.clientProxyPid, pair.serverProxyPid]) process.kill(pid, 'SIGUSR2');
            await sleep(3000);
            const keep = join(packageRoot, 'bench', 'results', `cpu-prof-${new Date().toISOString().replace(/[:.]/g, '-')}`);
            mkdirSync(keep, { recursive: true });
            const files = readdirSync(profDir);
            for (const f of files) writeFileSync(join(keep, f), readFileSync(join(profDir, f)));
            log(`[trellis] CPU profiles of the client proxy (pid ${pair.clientProxyPid}) and server proxy (pid ${pair.serverProxyPid}): ${files.map((f) => join(keep, f)).join(', ')}; summarise with node dist/bench/cpuprofile-top.js <file>`);
          }
        } finally {
          if (taps !== null) {
            const t = await taps.stop();
            log(`[trellis] tap carried ${t.events} request events; the proxies dropped ${t.dropped} over the cap`);
          }
          await stopChild(pair.cli, 15000);
        }
      }
    } catch (e) {
      failures[name] = (e as Error).stack ?? String(e);
      log(`[${name}] FAILED: ${(e as Error).message}`);
      await stopAll(5000);
    }
    await sleep(1000);
  }

  const rep = report(results, o);
  process.stdout.write(rep.text + '\n');
  for (const [n, err] of Object.entries(failures)) process.stdout.write(`\n${n}: FAILED (${err.split('\n')[0]})\n`);

  const resultsDir = join(packageRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(resultsDir, `${stamp}.json`);
  const forJson = results.map(resultForJson);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), machine, options: o, results: forJson, failures, ratios: rep.ratios, ratioLine: rep.ratio }, null, 2) + '\n');
  process.stdout.write(`\nresults: ${file}\n`);
  process.stdout.write(rep.ratio + '\n');
  return Object.keys(failures).length === 0 ? 0 : 1;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    await cleanup();
    process.stdout.write('ratio throughput=n/a p99=n/a rss=n/a vs_pipe=n/a\n');
    process.exit(1);
  });
