/**
 * Test support: a deterministic load simulation for the balancers. Simulated time (the
 * balancer's clock), seeded randomness, endpoints with a latency model, and a lease-like
 * life for each request: picked -> pending + 1 -> after its latency the RTT is observed
 * (and, for a failing endpoint, a failure) -> pending - 1. That is the contract the proxy's
 * leases keep (see LoadRecord in types.ts).
 */
import { EndpointLoad } from './load-record.js';
import { DEFAULT_RTT_MS } from './rtt-estimate.js';
import type { Balanced, Balancer, BalancerDeps } from './types.js';

/** Uniform in [0, 1), deterministic per seed (mulberry32: small, fast and well spread). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimEndpoint extends Balanced {
  readonly name: string;
  readonly load: EndpointLoad;
  /** How long one request takes on this endpoint, in ms. */
  latency: (random: () => number) => number;
  /** Answers every request with a failure (say a fast 503). */
  failing: boolean;
  /** Requests picked for this endpoint. */
  served: number;
}

/** An endpoint that appears at `createdAt` (its latency prior decays from then, as in the cluster table). */
export function simEndpoint(name: string, createdAt: number, latency: (random: () => number) => number): SimEndpoint {
  return { name, key: name, load: new EndpointLoad(DEFAULT_RTT_MS, createdAt), latency, failing: false, served: 0 };
}

/** A latency of `ms` x uniform [1 - spread, 1 + spread). */
export function around(ms: number, spread = 0.3): (random: () => number) => number {
  return (random) => ms * (1 - spread + 2 * spread * random());
}

interface Completion {
  at: number;
  rtt: number;
  ep: SimEndpoint;
}

export class LoadSimulation {
  /** Simulated now, in ms. */
  now = 0;
  readonly random: () => number;
  readonly deps: BalancerDeps;
  /** Whether a failed request is reported with observeFailure (as the proxy's leases do). */
  penalizeFailures = true;
  private readonly inFlight: Completion[] = [];

  constructor(seed: number, start = 0) {
    this.now = start;
    this.random = seededRandom(seed);
    this.deps = { random: this.random, now: () => this.now };
  }

  /** Sends one request at `at` (>= now) after every request due by then has completed. */
  send(at: number, balancer: Balancer, endpoints: readonly SimEndpoint[], exclude?: ReadonlySet<SimEndpoint>): SimEndpoint | undefined {
    this.advance(at);
    const ep = balancer.pick(endpoints, exclude);
    if (ep === undefined) return undefined;
    ep.load.pending++;
    ep.served++;
    const rtt = ep.latency(this.random);
    const c: Completion = { at: at + rtt, rtt, ep };
    let k = this.inFlight.length;
    while (k > 0 && this.inFlight[k - 1]!.at > c.at) k--;
    this.inFlight.splice(k, 0, c);
    return ep;
  }

  /** Moves the clock to `to`, completing every request due by then in time order. */
  advance(to: number): void {
    while (this.inFlight.length > 0 && this.inFlight[0]!.at <= to) {
      const c = this.inFlight.shift()!;
      this.now = c.at;
      c.ep.load.rtt.observe(c.rtt, c.at);
      if (c.ep.failing && this.penalizeFailures) c.ep.load.observeFailure(c.at, c.rtt);
      c.ep.load.pending--;
    }
    if (to > this.now) this.now = to;
  }
}

/** Shares of `served` per endpoint name, for assertion messages. */
export function shares(endpoints: readonly SimEndpoint[]): string {
  const total = endpoints.reduce((n, e) => n + e.served, 0);
  return endpoints.map((e) => `${e.name}=${e.served}/${total}`).join(' ');
}
