import assert from 'node:assert/strict';
import type { GrpcRouteRuleConfig, HttpRouteRuleConfig, RouteConfig, RouteTableConfig } from '../../api/snapshot.js';
import { compileRouteTable } from './compile.js';
import type { RouteTable } from './table.js';

export function http(name: string, rules: HttpRouteRuleConfig[], createdAt = 0, namespace = 'default'): RouteConfig {
  return { kind: 'HTTPRoute', namespace, name, createdAt, rules };
}

export function grpc(name: string, rules: GrpcRouteRuleConfig[], createdAt = 0, namespace = 'default'): RouteConfig {
  return { kind: 'GRPCRoute', namespace, name, createdAt, rules };
}

/** A rule whose single backend is named `tag`, so tests can tell rules apart. */
export function to(tag: string, rule: Omit<HttpRouteRuleConfig, 'backends'> = {}): HttpRouteRuleConfig {
  return { ...rule, backends: [{ cluster: tag }] };
}

export function table(routes: RouteConfig[]): RouteTable {
  const config: RouteTableConfig = { routes };
  const r = compileRouteTable(config);
  if (!r.ok) assert.fail(`unexpected errors: ${JSON.stringify(r.errors)}`);
  return r.table;
}

export function errorsOf(routes: RouteConfig[]): { path: string; message: string }[] {
  const r = compileRouteTable({ routes });
  assert.equal(r.ok, false, 'expected the table to be rejected');
  return r.ok ? [] : r.errors;
}

/** The backend tag of the rule that wins, or null. */
export function hit(t: RouteTable, method: string, target: string, headers: string[] = []): string | null {
  const m = t.route(method, target, headers);
  return m === null ? null : (m.rule.backends[0]?.cluster ?? `redirect:${m.route}`);
}

export function seq(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}
