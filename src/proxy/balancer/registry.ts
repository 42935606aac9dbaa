import { consistentHashBalancer } from './consistent-hash.js';
import { leastRequestBalancer } from './least-request.js';
import { peakEwmaBalancer } from './peak-ewma.js';
import { roundRobinBalancer } from './round-robin.js';
import type { Balancer, BalancerDeps, BalancerFactory } from './types.js';

/** Balancers by name: the extension point. `peak-ewma` is the default. */
const factories = new Map<string, BalancerFactory>([
  ['peak-ewma', peakEwmaBalancer],
  ['round-robin', () => roundRobinBalancer()],
  ['least-request', leastRequestBalancer],
  ['consistent-hash', consistentHashBalancer],
]);

export const DEFAULT_BALANCER = 'peak-ewma';

export function registerBalancer(name: string, factory: BalancerFactory): void {
  factories.set(name, factory);
}

export function hasBalancer(name: string): boolean {
  return factories.has(name);
}

export function createBalancer(name: string, deps: BalancerDeps): Balancer {
  const f = factories.get(name) ?? factories.get(DEFAULT_BALANCER);
  if (f === undefined) throw new Error(`no balancer "${name}" and no default`);
  return f(deps);
}

export const defaultBalancerDeps: BalancerDeps = {
  random: Math.random,
  now: () => performance.now(),
};
