/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time and by
 * total (inclusive) time. Used on the Trellis proxies' profiles from `run.js --cpu-prof`.
 *
 *   node dist/bench/cpuprofile-top.js <file.cpuprofile> [--top 25] [--last SECONDS]
 *
 * --last: only the samples of the profile's last SECONDS (e.g. a benchmark's measured phase after its set-up).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function summarise(p: Profile, top: number, lastSeconds = Infinity): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const from = p.endTime - lastSeconds * 1e6;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from) continue;
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const key = (n: ProfileNode): string => {
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1');
    return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    all += us;
    if (n.callFrame.functionName === '(idle)') idle += us;
    self.set(key(n), (self.get(key(n)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  }
  const busy = all - idle;
  const fmt = (m: Map<string, number>): string =>
    [...m]
      .filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(root)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${((100 * us) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`)
      .join('\n');
  return `profile ${(all / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (% below are of busy time)\n\nSELF\n${fmt(self)}\n\nTOTAL (inclusive)\n${fmt(total)}\n`;
}

const args = process.argv.slice(2);
const file = args.find((a, i) => !a.startsWith('--') && !['--top', '--last'].includes(args[i - 1] ?? ''));
if (file === undefined) {
  process.stderr.write('usage: node dist/bench/cpuprofile-top.js <file.cpuprofile> [--top N]\n');
  process.exit(2);
}
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args[ti + 1] ?? 25) : 25;
const li = args.indexOf('--last');
const last = li >= 0 ? Number(args[li + 1]) : Infinity;
process.stdout.write(summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top, last));
