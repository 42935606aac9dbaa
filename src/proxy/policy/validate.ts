import type { InboundPolicyConfig } from '../../api/snapshot.js';
import { parseSpiffeId } from '../../identity/spiffe.js';
import { headerNameProblem, methodProblem, pathPatternProblem, portNameProblem, rateProblem, valuePatternProblem } from './patterns.js';

/** One problem of an inbound policy config, at a field path such as `inbound[0].authorization[1].rules[0]`. */
export interface PolicyProblem {
  path: string;
  message: string;
}

const DEFAULT_ACTIONS = new Set(['allow', 'deny', 'authenticated']);
const ACTIONS = new Set(['ALLOW', 'DENY', 'AUDIT']);
const MODES = new Set(['enforce', 'shadow']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks the shape and every value of `snapshot.inbound` (it comes over the wire: the proxy
 * trusts nothing it has not checked). Routes of route-targeted policies are checked when they
 * are compiled. Returns every problem; empty when the config can be compiled.
 */
export function validateInboundPolicies(list: unknown, at = 'inbound'): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  const err = (path: string, message: string): void => {
    out.push({ path, message });
  };
  if (list === undefined) return out;
  if (!Array.isArray(list)) {
    err(at, 'expected an array');
    return out;
  }
  const ports = new Set<string>();
  list.forEach((c: unknown, i) => {
    const p = `${at}[${i}]`;
    if (!isObj(c)) return err(p, 'expected an object');
    if (typeof c.port !== 'string' || portNameProblem(c.port) !== undefined) err(`${p}.port`, 'expected a port name');
    else if (ports.has(c.port)) err(`${p}.port`, `port ${c.port} has two entries`);
    else ports.add(c.port);
    if (typeof c.defaultAction !== 'string' || !DEFAULT_ACTIONS.has(c.defaultAction)) err(`${p}.defaultAction`, 'expected allow, deny or authenticated');
    if (typeof c.defaultFrom !== 'string') err(`${p}.defaultFrom`, 'expected a string');
    if (c.healthCheck !== undefined) {
      const h = c.healthCheck;
      if (!isObj(h)) err(`${p}.healthCheck`, 'expected an object');
      else {
        if (!Array.isArray(h.httpPaths)) err(`${p}.healthCheck.httpPaths`, 'expected an array');
        else h.httpPaths.forEach((x: unknown, k) => {
          if (typeof x !== 'string' || !x.startsWith('/')) err(`${p}.healthCheck.httpPaths[${k}]`, 'expected a path');
        });
        if (typeof h.grpc !== 'boolean') err(`${p}.healthCheck.grpc`, 'expected a boolean');
      }
    }
    if (!Array.isArray(c.authorization)) err(`${p}.authorization`, 'expected an array');
    else c.authorization.forEach((a: unknown, j) => checkAuthorization(a, `${p}.authorization[${j}]`, err));
    if (!Array.isArray(c.rateLimits)) err(`${p}.rateLimits`, 'expected an array');
    else c.rateLimits.forEach((r: unknown, j) => checkRateLimit(r, `${p}.rateLimits[${j}]`, err));
  });
  return out;
}

type Err = (path: string, message: string) => void;

function checkMeta(a: Obj, p: string, err: Err): void {
  if (typeof a.namespace !== 'string' || a.namespace === '') err(`${p}.namespace`, 'expected a string');
  if (typeof a.name !== 'string' || a.name === '') err(`${p}.name`, 'expected a string');
  if (a.route !== undefined && !isObj(a.route)) err(`${p}.route`, 'expected a route');
}

function checkAuthorization(a: unknown, p: string, err: Err): void {
  if (!isObj(a)) return err(p, 'expected an object');
  checkMeta(a, p, err);
  if (typeof a.action !== 'string' || !ACTIONS.has(a.action)) err(`${p}.action`, 'expected ALLOW, DENY or AUDIT');
  if (!Array.isArray(a.rules)) return err(`${p}.rules`, 'expected an array');
  a.rules.forEach((r: unknown, k) => {
    const rp = `${p}.rules[${k}]`;
    if (!isObj(r)) return err(rp, 'expected an object');
    list(r.from, `${rp}.from`, err, (f, fp) => {
      if (!isObj(f) || !isObj(f.source)) return err(fp, 'expected {source: {...}}');
      const s = f.source;
      for (const k2 of ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts']) patterns(s[k2], `${fp}.source.${k2}`, err, valuePatternProblem);
    });
    list(r.to, `${rp}.to`, err, (t, tp) => {
      if (!isObj(t) || !isObj(t.operation)) return err(tp, 'expected {operation: {...}}');
      const o = t.operation;
      patterns(o.methods, `${tp}.operation.methods`, err, methodProblem);
      patterns(o.notMethods, `${tp}.operation.notMethods`, err, methodProblem);
      patterns(o.paths, `${tp}.operation.paths`, err, pathPatternProblem);
      patterns(o.notPaths, `${tp}.operation.notPaths`, err, pathPatternProblem);
      patterns(o.ports, `${tp}.operation.ports`, err, portNameProblem);
      patterns(o.notPorts, `${tp}.operation.notPorts`, err, portNameProblem);
      patterns(o.grpcServices, `${tp}.operation.grpcServices`, err, valuePatternProblem);
      patterns(o.grpcMethods, `${tp}.operation.grpcMethods`, err, valuePatternProblem);
    });
    list(r.when, `${rp}.when`, err, (w, wp) => {
      if (!isObj(w)) return err(wp, 'expected an object');
      if (typeof w.header !== 'string') err(`${wp}.header`, 'expected a header name');
      else {
        const h = headerNameProblem(w.header);
        if (h !== undefined) err(`${wp}.header`, h);
      }
      if (w.values === undefined && w.notValues === undefined) err(wp, 'needs values or notValues');
      patterns(w.values, `${wp}.values`, err, valuePatternProblem);
      patterns(w.notValues, `${wp}.notValues`, err, valuePatternProblem);
    });
  });
}

function checkRateLimit(r: unknown, p: string, err: Err): void {
  if (!isObj(r)) return err(p, 'expected an object');
  checkMeta(r, p, err);
  if (typeof r.mode !== 'string' || !MODES.has(r.mode)) err(`${p}.mode`, 'expected enforce or shadow');
  const rate = (v: unknown, vp: string): void => {
    if (!isObj(v)) return err(vp, 'expected {requestsPerSecond, burst}');
    const bad = rateProblem(v.requestsPerSecond, v.burst);
    if (bad !== undefined) err(`${vp}.${bad.field}`, bad.message);
  };
  if (r.total !== undefined) {
    rate(r.total, `${p}.total`);
    const g = isObj(r.total) ? r.total.global : undefined;
    if (g !== undefined) {
      rate(g, `${p}.total.global`);
      if (isObj(g) && (typeof g.replicas !== 'number' || !Number.isInteger(g.replicas) || g.replicas < 1)) err(`${p}.total.global.replicas`, 'expected an integer >= 1');
    }
  }
  if (r.perIdentity !== undefined) rate(r.perIdentity, `${p}.perIdentity`);
  list(r.overrides, `${p}.overrides`, err, (o, op) => {
    rate(o, op);
    if (isObj(o) && (typeof o.principal !== 'string' || parseSpiffeId(o.principal) === null)) err(`${op}.principal`, 'expected a SPIFFE ID (spiffe://<td>/ns/<ns>/sa/<sa>)');
  });
  if (r.total === undefined && r.perIdentity === undefined && r.overrides === undefined) err(p, 'needs total, perIdentity or overrides');
}

function list(v: unknown, p: string, err: Err, each: (item: unknown, at: string) => void): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length === 0) return err(p, 'expected a non-empty array');
  v.forEach((item: unknown, i) => each(item, `${p}[${i}]`));
}

function patterns(v: unknown, p: string, err: Err, problem: (s: string) => string | undefined): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length === 0) return err(p, 'expected a non-empty array of strings');
  v.forEach((s: unknown, i) => {
    if (typeof s !== 'string') return err(`${p}[${i}]`, 'expected a string');
    const bad = problem(s);
    if (bad !== undefined) err(`${p}[${i}]`, bad);
  });
}

export type { InboundPolicyConfig };
