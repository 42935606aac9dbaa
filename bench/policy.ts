/**
 * `npm run bench -- --policy`: what inbound authorization and rate limiting cost the Trellis
 * pair. One pair is started; the runs alternate between no policy and the policy set below
 * (applied and deleted with the real CLI), in the order A B, B A, A B... so that drift on a
 * shared machine falls on both sides equally. The policy set, on the server's service:
 *   - one AuthorizationPolicy, action ALLOW, defaultAction deny, with 20 rules: 19 name other
 *     callers and paths, the last is the one that admits the bench's caller, so every request
 *     is checked against all 20;
 *   - one RateLimitPolicy with a total and a per-identity limit far above the load (never hit).
 * After each run with the policies, the server proxy's counters must show every request
 * allowed by the ALLOW policy and none rate limited: otherwise the run measured something else.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import type { InboundPolicyConfig } from '../src/api/snapshot.js';
import { cliEntry } from '../src/util/paths.js';
import { sleep } from './net-util.js';
import { Histogram } from './stats.js';

export const POLICY_RULES = 20;
export const POLICY_NAMES = { authz: 'default/bench-allow', limit: 'default/bench-limit' };

/** The AuthorizationPolicy (20 ALLOW rules, the bench's caller matched by the last) and the RateLimitPolicy. */
export function policyYaml(trustDomain: string): string {
  const rules: string[] = [];
  for (let i = 1; i < POLICY_RULES; i++) {
    rules.push(`    - from: [{ source: { principals: ["spiffe://${trustDomain}/ns/default/sa/caller-${i}"] } }]
      to: [{ operation: { methods: [GET, POST], paths: ["/api/v${i}/*", "/admin/${i}"] } }]`);
  }
  rules.push(`    - from: [{ source: { principals: ["spiffe://${trustDomain}/ns/default/sa/client"] } }]
      to: [{ operation: { methods: [GET], paths: ["/", "/1k*"] } }]`);
  return `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: bench-allow }
spec:
  targetRef: { kind: Service, group: "", name: server }
  action: ALLOW
  defaultAction: deny
  rules:
${rules.join('\n')}
---
apiVersion: trellis.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: bench-limit }
spec:
  targetRef: { kind: Service, group: "", name: server }
  total: { requestsPerSecond: 1000000, burst: 1000000 }
  perIdentity: { requestsPerSecond: 1000000, burst: 1000000 }
`;
}

/**
 * The same policies as a proxy's snapshot carries them (`ProxySnapshot.inbound`, port `http`),
 * for the in-process measure (pipeline-cpu.ts --policy): `caller` is the bench's caller.
 */
export function policyInbound(trustDomain: string, caller: string): InboundPolicyConfig[] {
  const rules: InboundPolicyConfig['authorization'][number]['rules'] = [];
  for (let i = 1; i < POLICY_RULES; i++) {
    rules.push({ from: [{ source: { principals: [`spiffe://${trustDomain}/ns/default/sa/caller-${i}`] } }], to: [{ operation: { methods: ['GET', 'POST'], paths: [`/api/v${i}/*`, `/admin/${i}`] } }] });
  }
  rules.push({ from: [{ source: { principals: [caller] } }], to: [{ operation: { methods: ['GET'], paths: ['/', '/1k*'] } }] });
  const never = { requestsPerSecond: 1_000_000, burst: 1_000_000 };
  return [
    {
      port: 'http',
      defaultAction: 'deny',
      defaultFrom: 'default/bench-allow',
      authorization: [{ namespace: 'default', name: 'bench-allow', action: 'ALLOW', rules }],
      rateLimits: [{ namespace: 'default', name: 'bench-limit', mode: 'enforce', total: never, perIdentity: never }],
    },
  ];
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

interface PortPolicies {
  port: string;
  authorization: unknown[];
  rateLimits: unknown[];
}

/** The number of (authorization, rate-limit) policies the proxy at `adminUrl` enforces on its `http` port. */
async function policiesServed(adminUrl: string): Promise<[number, number]> {
  const dump = JSON.parse(await get(`${adminUrl}/config`)) as { snapshot?: { inbound?: PortPolicies[] } | null };
  const port = dump.snapshot?.inbound?.find((p) => p.port === 'http');
  return [port?.authorization.length ?? 0, port?.rateLimits.length ?? 0];
}

export interface PolicyPair {
  apiUrl: string;
  stateDir: string;
  cwd: string;
  serverAdminUrl: string;
  trustDomain: string;
}

/**
 * Applies the policies (`on`) or deletes them, with the CLI, and waits until the server's proxy
 * enforces exactly that (bounded).
 */
export async function setPolicies(pair: PolicyPair, on: boolean): Promise<void> {
  const cli = (args: string[]): void => {
    const r = spawnSync(process.execPath, [cliEntry, ...args, '--control-plane', pair.apiUrl, '--state-dir', pair.stateDir], { encoding: 'utf8', timeout: 30_000, cwd: pair.cwd });
    if (r.status !== 0) throw new Error(`trellis ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  };
  if (on) {
    const file = join(pair.cwd, 'bench-policies.yaml');
    writeFileSync(file, policyYaml(pair.trustDomain));
    cli(['apply', '-f', file]);
  } else {
    const [a, l] = await policiesServed(pair.serverAdminUrl);
    if (a > 0) cli(['delete', 'authorizationpolicy', 'bench-allow']);
    if (l > 0) cli(['delete', 'ratelimitpolicy', 'bench-limit']);
  }
  const want = on ? 1 : 0;
  const until = Date.now() + 30_000;
  for (;;) {
    const [a, l] = await policiesServed(pair.serverAdminUrl);
    if (a === want && l === want) return;
    if (Date.now() > until) throw new Error(`the server proxy enforces ${a} authorization and ${l} rate-limit policies, expected ${want} of each, 30 s after the change`);
    await sleep(100);
  }
}

/** Decision counters of the bench policies on the server proxy (cumulative). */
export interface PolicyCounts {
  allowed: number;
  denied: number;
  admitted: number;
  limited: number;
}

export async function policyCounts(adminUrl: string): Promise<PolicyCounts> {
  const text = await get(`${adminUrl}/metrics`);
  const value = (prefix: string): number => {
    let n = 0;
    for (const line of text.split('\n')) if (line.startsWith(prefix)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
    return n;
  };
  return {
    allowed: value(`trellis_authz_decisions_total{policy="${POLICY_NAMES.authz}",decision="allowed"}`),
    denied: value('trellis_authz_decisions_total{policy="default",decision="denied"}') + value(`trellis_authz_decisions_total{policy="${POLICY_NAMES.authz}",decision="denied"}`),
    admitted: value(`trellis_rate_limit_decisions_total{policy="${POLICY_NAMES.limit}",mode="enforce",decision="admitted"}`),
    limited: value(`trellis_rate_limit_decisions_total{policy="${POLICY_NAMES.limit}",mode="enforce",decision="limited"}`),
  };
}

export interface PolicyRun {
  round: number;
  policy: boolean;
  fullLoadRps: number;
  openLoopP99Ms: number;
  /** Every open-loop latency sample of the run, ms (pooled per side for the summary; not written to the results file). */
  openLoopLatency: Histogram;
  /** Decisions during this run (policy runs only): every request allowed and admitted, none denied or limited. */
  decisions: PolicyCounts | null;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Goals of issue 11: at most 5 % of throughput, at most 0.05 ms of added p99 at 1000 rps. */
export const GOALS = { throughputLoss: 0.05, addedP99Ms: 0.05 };

/**
 * The summary table and the last line. Throughput: the median of each side's full-load runs.
 * p99: of each side's open-loop samples pooled over its runs (with 10 s runs a single run's
 * p99 rests on its 100 slowest requests and moves by more than a millisecond between runs of
 * the same side, twenty times the goal; pooling the alternating runs gives each side one p99
 * over all its requests, and drift falls on both sides alike). The per-round differences are
 * printed too, so the spread stays visible.
 */
export function policySummary(runs: PolicyRun[], rate: number): { text: string; line: string; figures: Record<string, number> } {
  const side = (on: boolean) => runs.filter((r) => r.policy === on);
  const rpsOff = median(side(false).map((r) => r.fullLoadRps));
  const rpsOn = median(side(true).map((r) => r.fullLoadRps));
  const pooledOff = Histogram.pooled(side(false).map((r) => r.openLoopLatency));
  const pooledOn = Histogram.pooled(side(true).map((r) => r.openLoopLatency));
  const p99Off = pooledOff.percentile(99);
  const p99On = pooledOn.percentile(99);
  const p50Off = pooledOff.percentile(50);
  const p50On = pooledOn.percentile(50);
  const loss = 1 - rpsOn / rpsOff;
  const added = p99On - p99Off;
  const rows = runs.map(
    (r) =>
      `  round ${r.round}  ${r.policy ? 'policies' : 'none    '}  ${r.fullLoadRps.toFixed(0).padStart(6)} req/s  p99 ${r.openLoopP99Ms.toFixed(3)} ms` +
      (r.decisions === null ? '' : `  (allowed ${r.decisions.allowed}, denied ${r.decisions.denied}, admitted ${r.decisions.admitted}, limited ${r.decisions.limited})`),
  );
  const rounds = [...new Set(runs.map((r) => r.round))];
  const perRound = rounds.flatMap((round) => {
    const off = runs.find((r) => r.round === round && !r.policy);
    const on = runs.find((r) => r.round === round && r.policy);
    return off === undefined || on === undefined ? [] : [{ loss: 1 - on.fullLoadRps / off.fullLoadRps, added: on.openLoopP99Ms - off.openLoopP99Ms }];
  });
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const ms = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
  const met = loss <= GOALS.throughputLoss && added <= GOALS.addedP99Ms;
  const text = [
    '',
    `Policy cost: ${POLICY_RULES} ALLOW rules (defaultAction deny, the caller matched by the last rule) and a never-hit RateLimitPolicy (total + perIdentity), alternating runs`,
    ...rows,
    `  per round, policies against none: throughput ${perRound.map((r) => pct(-r.loss)).join(' ')}; p99 ms ${perRound.map((r) => ms(r.added)).join(' ')}`,
    `  median full-load req/s: none ${rpsOff.toFixed(0)}, policies ${rpsOn.toFixed(0)}: ${(loss * 100).toFixed(1)} % lost (goal <= ${GOALS.throughputLoss * 100} %)`,
    `  open loop at ${rate} rps, every run's requests pooled per side (${pooledOff.count} / ${pooledOn.count}): p50 none ${p50Off.toFixed(3)} ms, policies ${p50On.toFixed(3)} ms; p99 none ${p99Off.toFixed(3)} ms, policies ${p99On.toFixed(3)} ms: ${ms(added)} ms (goal <= +${GOALS.addedP99Ms} ms)`,
  ].join('\n');
  return {
    text,
    line: `policy throughput_loss=${(loss * 100).toFixed(1)}% p99_added_ms=${added.toFixed(3)} goal=${met ? 'met' : 'missed'}`,
    figures: { rpsOff, rpsOn, p50Off, p50On, p99Off, p99On, throughputLoss: loss, addedP99Ms: added },
  };
}
