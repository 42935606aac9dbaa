import type { RouteTable } from '../routing/table.js';
import { anyMatches, anyMatchesRange } from './glob.js';
import type { Glob } from './glob.js';
import { locatePeer, nsEnd, nsStart, saEnd, saStart } from './peer.js';
import { RuleIndex } from './rule-index.js';
import type { AuthzDecision, PolicyRequest } from './types.js';

/** One `from[].source`, compiled. null lists are absent (hold for every caller). */
export interface CompiledSource {
  readonly principals: readonly Glob[] | null;
  readonly notPrincipals: readonly Glob[] | null;
  readonly namespaces: readonly Glob[] | null;
  readonly notNamespaces: readonly Glob[] | null;
  readonly serviceAccounts: readonly Glob[] | null;
  readonly notServiceAccounts: readonly Glob[] | null;
}

/** One `to[].operation`, compiled for one port (its `ports` are decided at compile time). */
export interface CompiledOperation {
  readonly methods: readonly string[] | null;
  readonly notMethods: readonly string[] | null;
  readonly paths: readonly Glob[] | null;
  readonly notPaths: readonly Glob[] | null;
  readonly grpcServices: readonly Glob[] | null;
  readonly grpcMethods: readonly Glob[] | null;
}

export interface CompiledCondition {
  readonly header: string;
  readonly values: readonly Glob[] | null;
  readonly notValues: readonly Glob[] | null;
}

export interface CompiledRule {
  /** Requests must match the target route first (null: no route target). */
  readonly route: RouteTable | null;
  /** Any of them (null: any caller). */
  readonly from: readonly CompiledSource[] | null;
  /** Any of them (null: any operation). Never empty: a rule none of whose operations applies to the port is dropped. */
  readonly to: readonly CompiledOperation[] | null;
  /** All of them. */
  readonly when: readonly CompiledCondition[];
  /**
   * What a caller with no usable identity (none, or not a `/ns/<ns>/sa/<sa>` ID) does to a
   * `not*` list of `from`: true in DENY and AUDIT rules (an unknown caller is "not X", so the
   * rule catches it), false in ALLOW rules (an unknown caller is never let in by a `not*`).
   * Positive lists never match an unknown caller. Either way the unknown caller gets less.
   */
  readonly unknownMatchesNot: boolean;
  readonly decision: AuthzDecision;
}

/** The mesh's health checks of the port (DestinationPolicy healthCheck), exempt from policy. */
export interface HealthCheckExemption {
  /** GET of exactly one of these: normalized path and query ('' for none). */
  readonly http: readonly { readonly path: string; readonly query: string }[];
  /** gRPC Health/Check calls. */
  readonly grpc: boolean;
}

export const GRPC_HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** The decisions a port's default makes. */
export interface DefaultDecisions {
  /** No DENY and no ALLOW matched, caller with a verified identity. */
  readonly authenticated: AuthzDecision;
  /** The same, caller without one. */
  readonly anonymous: AuthzDecision;
}

/**
 * The compiled authorization of one inbound port: DENY rules, then ALLOW rules, then the
 * port's explicit default; AUDIT rules are looked at separately and never change the answer.
 * The mesh's own health checks are allowed before anything else. Every decision is a shared
 * object made at compile time, so `authorize` and `audit` allocate nothing.
 */
export class Authorizer {
  /** Per list, the rules that can match a caller, by its SPIFFE ID (rule-index.ts). */
  private readonly denyIndex: RuleIndex;
  private readonly allowIndex: RuleIndex;
  private readonly auditIndex: RuleIndex;

  constructor(
    readonly deny: readonly CompiledRule[],
    readonly allow: readonly CompiledRule[],
    readonly audits: readonly CompiledRule[],
    readonly defaults: DefaultDecisions,
    readonly healthCheck: HealthCheckExemption | null,
    readonly healthDecision: AuthzDecision,
  ) {
    this.denyIndex = new RuleIndex(deny);
    this.allowIndex = new RuleIndex(allow);
    this.auditIndex = new RuleIndex(audits);
  }

  get hasAudit(): boolean {
    return this.audits.length > 0;
  }

  /** The mesh's own health check of this port, from a verified mesh identity: exempt from every policy. */
  isHealthCheck(req: PolicyRequest): boolean {
    return this.healthCheck !== null && req.peer !== null && isHealthCheck(this.healthCheck, req);
  }

  /** The decision for a request: never null, never throws. */
  authorize(req: PolicyRequest): AuthzDecision {
    if (this.isHealthCheck(req)) return this.healthDecision;
    const known = locatePeer(req.peer);
    const d = firstMatch(this.denyIndex.candidates(req.peer), req, known);
    if (d !== null) return d;
    const a = firstMatch(this.allowIndex.candidates(req.peer), req, known);
    if (a !== null) return a;
    return req.peer !== null ? this.defaults.authenticated : this.defaults.anonymous;
  }

  /** The first AUDIT rule that matches, or null. */
  audit(req: PolicyRequest): AuthzDecision | null {
    if (this.audits.length === 0) return null;
    return firstMatch(this.auditIndex.candidates(req.peer), req, locatePeer(req.peer));
  }
}

function isHealthCheck(h: HealthCheckExemption, req: PolicyRequest): boolean {
  if (h.grpc && req.grpc && req.method === 'POST' && req.path === GRPC_HEALTH_CHECK_PATH) return true;
  if (req.method !== 'GET') return false;
  for (let i = 0; i < h.http.length; i++) {
    const p = h.http[i] as { path: string; query: string };
    if (req.path === p.path && req.query === p.query) return true;
  }
  return false;
}

function firstMatch(rules: readonly CompiledRule[], req: PolicyRequest, known: boolean): AuthzDecision | null {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i] as CompiledRule;
    if (ruleMatches(r, req, known)) return r.decision;
  }
  return null;
}

export function ruleMatches(r: CompiledRule, req: PolicyRequest, known: boolean): boolean {
  if (r.route !== null && r.route.routeNormalized(req.method, req.path, req.query, req.host, req.headers) === null) return false;
  if (r.from !== null) {
    let any = false;
    for (let i = 0; i < r.from.length && !any; i++) any = sourceMatches(r.from[i] as CompiledSource, req.peer, known, r.unknownMatchesNot);
    if (!any) return false;
  }
  if (r.to !== null) {
    let any = false;
    for (let i = 0; i < r.to.length && !any; i++) any = req.tcp === true ? tcpOperationMatches(r.to[i] as CompiledOperation, r.unknownMatchesNot) : operationMatches(r.to[i] as CompiledOperation, req);
    if (!any) return false;
  }
  // Headers are HTTP-only: a TCP connection meets a DENY's conditions and never an ALLOW's.
  if (req.tcp === true) return r.when.length === 0 || r.unknownMatchesNot;
  for (let i = 0; i < r.when.length; i++) if (!conditionHolds(r.when[i] as CompiledCondition, req.headers)) return false;
  return true;
}

/**
 * An operation against a TCP connection: one without HTTP-only fields holds (its ports were
 * decided at compile time); one with them holds in DENY and AUDIT rules (`broaden`: the fields
 * are ignored, so the rule denies more) and never in ALLOW rules (a connection cannot prove a
 * path or method).
 */
function tcpOperationMatches(o: CompiledOperation, broaden: boolean): boolean {
  const httpOnly = o.methods !== null || o.notMethods !== null || o.paths !== null || o.notPaths !== null || o.grpcServices !== null || o.grpcMethods !== null;
  return !httpOnly || broaden;
}

function sourceMatches(s: CompiledSource, peer: string | null, known: boolean, unknownMatchesNot: boolean): boolean {
  if (s.principals !== null && (peer === null || !anyMatches(s.principals, peer))) return false;
  if (s.notPrincipals !== null) {
    if (peer === null) {
      if (!unknownMatchesNot) return false;
    } else if (anyMatches(s.notPrincipals, peer)) return false;
  }
  if (s.namespaces !== null && (!known || !anyMatchesRange(s.namespaces, peer as string, nsStart, nsEnd))) return false;
  if (s.notNamespaces !== null) {
    if (!known) {
      if (!unknownMatchesNot) return false;
    } else if (anyMatchesRange(s.notNamespaces, peer as string, nsStart, nsEnd)) return false;
  }
  if (s.serviceAccounts !== null && (!known || !anyMatchesRange(s.serviceAccounts, peer as string, saStart, saEnd))) return false;
  if (s.notServiceAccounts !== null) {
    if (!known) {
      if (!unknownMatchesNot) return false;
    } else if (anyMatchesRange(s.notServiceAccounts, peer as string, saStart, saEnd)) return false;
  }
  return true;
}

function operationMatches(o: CompiledOperation, req: PolicyRequest): boolean {
  if (o.methods !== null && !o.methods.includes(req.method)) return false;
  if (o.notMethods !== null && o.notMethods.includes(req.method)) return false;
  if (o.paths !== null && !anyMatches(o.paths, req.path)) return false;
  if (o.notPaths !== null && anyMatches(o.notPaths, req.path)) return false;
  if (o.grpcServices !== null || o.grpcMethods !== null) {
    // gRPC fields hold only for gRPC calls, whose path is /<service>/<method>.
    if (!req.grpc) return false;
    const path = req.path;
    const slash = path.indexOf('/', 1);
    if (path.charCodeAt(0) !== 0x2f || slash <= 1 || slash >= path.length - 1 || path.indexOf('/', slash + 1) >= 0) return false;
    if (o.grpcServices !== null && !anyMatchesRange(o.grpcServices, path, 1, slash)) return false;
    if (o.grpcMethods !== null && !anyMatchesRange(o.grpcMethods, path, slash + 1, path.length)) return false;
  }
  return true;
}

/** Some field with the name matches `values` (when given) and none matches `notValues`. An absent header matches no `values` and every `notValues`. */
function conditionHolds(c: CompiledCondition, headers: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] !== c.header) continue;
    const v = headers[i + 1] as string;
    if (c.notValues !== null && anyMatches(c.notValues, v)) return false;
    if (c.values === null || anyMatches(c.values, v)) seen = true;
  }
  return seen || c.values === null;
}
