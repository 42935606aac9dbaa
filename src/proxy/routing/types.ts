import type { RouteRetryConfig } from '../../api/snapshot.js';

/**
 * Compiled route table: everything precomputed at snapshot time so that `route()` does plain
 * comparisons. Objects here are shared by every request: never mutate them.
 */

/** Path match kinds, in precedence order (Exact first). */
export const PathKind = { Exact: 0, Prefix: 1, Regex: 2 } as const;
export type PathKind = (typeof PathKind)[keyof typeof PathKind];

export interface CompiledBackend {
  readonly cluster: string;
  readonly weight: number;
  /** False when the cluster is not known to this proxy: picking it means 500 (Gateway API). */
  readonly valid: boolean;
}

export interface CompiledHeaderModifier {
  /** Lower-cased names with values: replace existing fields (or append). */
  readonly set: readonly (readonly [string, string])[];
  /** Lower-cased names with values: appended as new fields. */
  readonly add: readonly (readonly [string, string])[];
  /** Lower-cased names: every field with the name dropped. */
  readonly remove: ReadonlySet<string>;
}

export type CompiledPathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly value: string }
  /** `value` without its trailing slash ("/" -> ""). */
  | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

export interface CompiledRedirect {
  readonly scheme: 'http' | 'https' | undefined;
  readonly hostname: string | undefined;
  readonly path: CompiledPathModifier | undefined;
  readonly port: number | undefined;
  readonly statusCode: number;
}

export interface CompiledUrlRewrite {
  readonly hostname: string | undefined;
  readonly path: CompiledPathModifier | undefined;
}

export interface CompiledMirror {
  readonly cluster: string;
  /** 0..100 */
  readonly percent: number;
}

export interface CompiledFault {
  readonly delay: { readonly ms: number; readonly percent: number } | undefined;
  readonly abort: { readonly status: number; readonly percent: number } | undefined;
}

/** The filters of one rule, by kind (Gateway API allows each at most once, mirrors several). */
export interface CompiledFilters {
  readonly requestHeaders: CompiledHeaderModifier | undefined;
  readonly responseHeaders: CompiledHeaderModifier | undefined;
  readonly redirect: CompiledRedirect | undefined;
  readonly rewrite: CompiledUrlRewrite | undefined;
  readonly mirrors: readonly CompiledMirror[];
  readonly fault: CompiledFault | undefined;
}

export interface CompiledRule {
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  /** `<namespace>/<name>` of the route. */
  readonly route: string;
  readonly index: number;
  readonly name: string | undefined;
  readonly filters: CompiledFilters;
  /** Backends with weight > 0, in config order, with running weight sums for the pick. */
  readonly backends: readonly CompiledBackend[];
  readonly cumulative: Float64Array;
  readonly totalWeight: number;
  readonly timeouts: { readonly requestMs: number; readonly backendRequestMs: number };
  readonly retry: Readonly<RouteRetryConfig> | undefined;
}

/** What `route()` returns: the winning rule and what it needs to act on the request. */
export interface RouteMatch {
  readonly rule: CompiledRule;
  /** `<namespace>/<name>` of the route. */
  readonly route: string;
  readonly filters: CompiledFilters;
  /**
   * The normalised PathPrefix (no trailing slash, "/" -> "") that matched, for
   * ReplacePrefixMatch; undefined for other path matches.
   */
  readonly matchedPrefix: string | undefined;
  /** The method the match named, if any (a CONNECT is forwarded only when a match names it). */
  readonly method?: string | undefined;
}

export interface RouteConfigError {
  /** Field path, e.g. `routes[0].rules[1].matches[0].path.value`. */
  path: string;
  message: string;
}
