import type { ExternalServiceConfig } from '../../api/snapshot.js';
import { compileInboundPolicies } from '../policy/compile.js';
import type { InboundPolicy } from '../policy/inbound-policy.js';
import type { LimiterState } from '../policy/rate-limiter.js';
import type { PolicyCounters } from '../policy/types.js';
import { wildcardMatches } from '../routing/hosts.js';
import { hostnameProblem } from '../../util/hostname.js';

/** One declared destination, as the egress listeners use it. */
export interface EgressEntry {
  /** `<namespace>/<name>`: policies, logs. */
  readonly label: string;
  /**
   * `<namespace>/<name>:<port>`: the destination in metrics and tap (read as a cluster name,
   * so dashboards show the ExternalService as the request's destination service).
   */
  readonly destination: string;
  readonly config: ExternalServiceConfig;
  /** Caller-side authorization (its AuthorizationPolicies); null: every workload may use it. */
  readonly policy: InboundPolicy | null;
}

export type PreparedEgress = { ok: true; commit(): void } | { ok: false; problems: string[] };

interface PortIndex {
  exact: Map<string, EgressEntry>;
  /** `.suffix` of `*.suffix` entries, longest first. */
  wildcards: { suffix: string; entry: EgressEntry }[];
}

/**
 * The ExternalServices of the running snapshot, by listener port and protocol, swapped whole
 * by each snapshot (as the cluster table is): a listener looks its destination up per request
 * or connection, so a new or removed ExternalService applies to the next one.
 */
export class EgressTable {
  private byKey = new Map<string, PortIndex>();
  /** Rate-limit buckets by policy, kept across snapshots for the policies that stay. */
  private states = new Map<string, LimiterState>();

  constructor(private readonly counters?: PolicyCounters) {}

  /** The entry a request for `host` (lower case, no port, no trailing dot) on `port`/`protocol` goes to, or null. */
  lookup(port: number, protocol: 'http' | 'tls', host: string): EgressEntry | null {
    const idx = this.byKey.get(`${protocol}:${port}`);
    if (idx === undefined) return null;
    const e = idx.exact.get(host);
    if (e !== undefined) return e;
    for (const w of idx.wildcards) if (wildcardMatches(w.suffix, host)) return w.entry;
    return null;
  }

  /** Validates and compiles a snapshot's `egress`; commit() then puts it in place. Never throws. */
  prepare(list: unknown): PreparedEgress {
    if (list === undefined) {
      return {
        ok: true,
        commit: () => {
          this.byKey = new Map();
          this.states = new Map();
        },
      };
    }
    if (!Array.isArray(list)) return { ok: false, problems: ['egress: expected a list'] };
    const problems: string[] = [];
    const next = new Map<string, PortIndex>();
    const states = new Map(this.states);
    list.forEach((raw: unknown, i) => {
      const at = `egress[${i}]`;
      const c = raw as ExternalServiceConfig;
      const shapeProblem = checkShape(c);
      if (shapeProblem !== undefined) {
        problems.push(`${at}: ${shapeProblem}`);
        return;
      }
      let policy: InboundPolicy | null = null;
      if (c.policy !== undefined) {
        const r = compileInboundPolicies([c.policy], { limiterStates: states, ...(this.counters !== undefined ? { counters: this.counters } : {}) }, `${at}.policy`);
        if (!r.ok) {
          for (const p of r.problems) problems.push(`${p.path}: ${p.message}`);
          return;
        }
        policy = r.byPort.get(c.policy.port) ?? null;
      }
      const label = `${c.namespace}/${c.name}`;
      const entry: EgressEntry = { label, destination: `${label}:${c.port}`, config: c, policy };
      const key = `${c.protocol}:${c.port}`;
      let idx = next.get(key);
      if (idx === undefined) next.set(key, (idx = { exact: new Map(), wildcards: [] }));
      if (c.hostname.startsWith('*.')) {
        // The first of equal wildcards wins (the compiler sorts by namespace and name).
        if (!idx.wildcards.some((w) => w.suffix === c.hostname.slice(1))) idx.wildcards.push({ suffix: c.hostname.slice(1), entry });
      } else if (!idx.exact.has(c.hostname)) idx.exact.set(c.hostname, entry);
    });
    if (problems.length > 0) return { ok: false, problems };
    for (const idx of next.values()) idx.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    return {
      ok: true,
      commit: () => {
        this.byKey = next;
        this.states = states;
      },
    };
  }
}

function checkShape(c: ExternalServiceConfig): string | undefined {
  if (typeof c !== 'object' || c === null) return 'expected an object';
  if (typeof c.namespace !== 'string' || typeof c.name !== 'string') return 'namespace and name must be strings';
  const h = hostnameProblem(c.hostname, { wildcard: true });
  if (h !== undefined) return `hostname: ${h}`;
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) return 'port: expected 1..65535';
  if (c.protocol !== 'http' && c.protocol !== 'tls') return 'protocol: expected http or tls';
  if (c.endpoints !== undefined) {
    if (!Array.isArray(c.endpoints) || c.endpoints.length === 0) return 'endpoints: expected a non-empty list';
    for (const e of c.endpoints) {
      if (typeof e?.host !== 'string' || e.host === '' || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return 'endpoints: expected {host, port}';
    }
  }
  return undefined;
}
