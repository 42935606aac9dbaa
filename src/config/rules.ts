import { parseDuration } from '../util/duration.js';
import { parseHostPort } from '../util/hostport.js';
import { APP_LABEL, defaultEgressEnv, defaultUpstreamEnv, envKey, selectorMatches } from './normalize.js';
import type { MeshFile } from './schema.js';

/**
 * The shortest workload certificate lifetime the mesh accepts. X.509 times have one-second
 * resolution, so a shorter TTL cannot be expressed; the CA rounds the expiry up to the next
 * whole second, so a 1 s certificate lives 1 to 2 s and is renewed after about half of that.
 */
export const MIN_CERTIFICATE_TTL_MS = 1000;

/** A problem at a path inside the mesh file. */
export interface RuleIssue {
  path: (string | number)[];
  message: string;
}

/**
 * Rules across fields that the schema cannot say: unique names, references to declared
 * services and ports, fixed addresses. Runs only on a file that passed the schema.
 */
export function checkRules(file: MeshFile): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const spec = file.spec;
  const ttl = parseDuration(spec.certificateTTL) ?? 0;
  if (ttl < MIN_CERTIFICATE_TTL_MS) {
    issues.push({
      path: ['spec', 'certificateTTL'],
      message: `must be at least 1s, got ${spec.certificateTTL}: certificate validity has one-second resolution (X.509), and every proxy renews at about half its certificate's life`,
    });
  }

  // Workload and ingress names share one space: both name proxies (`<ns>/<name>/<replica>`).
  const names = new Map<string, string>();
  const claim = (name: string, path: (string | number)[], what: string): void => {
    const prev = names.get(name);
    if (prev !== undefined) issues.push({ path, message: `duplicate name "${name}" (already used by ${prev})` });
    else names.set(name, what);
  };
  spec.workloads.forEach((w, i) => claim(w.name, ['spec', 'workloads', i, 'name'], `spec.workloads[${i}]`));
  spec.ingress.forEach((g, i) => claim(g.name, ['spec', 'ingress', i, 'name'], `spec.ingress[${i}]`));

  // Ports per service; workloads that share a service must declare the same ports.
  const services = new Map<string, { ports: Map<string, string>; from: number }>();
  spec.workloads.forEach((w, i) => {
    const seen = new Set<string>();
    w.ports.forEach((p, j) => {
      if (seen.has(p.name)) issues.push({ path: ['spec', 'workloads', i, 'ports', j, 'name'], message: `duplicate port name "${p.name}"` });
      seen.add(p.name);
    });
    const service = w.service ?? w.name;
    const ports = new Map(w.ports.map((p) => [p.name, p.protocol]));
    const prev = services.get(service);
    if (prev === undefined) services.set(service, { ports, from: i });
    else if (!samePorts(prev.ports, ports)) {
      issues.push({
        path: ['spec', 'workloads', i, 'ports'],
        message: `service "${service}" is also served by spec.workloads[${prev.from}] with different ports; workloads of one service must declare the same ports`,
      });
    }
  });

  spec.workloads.forEach((w, i) => {
    const service = w.service ?? w.name;
    const app = w.labels[APP_LABEL];
    if (app !== undefined && app !== service) {
      issues.push({ path: ['spec', 'workloads', i, 'labels', APP_LABEL], message: `"${APP_LABEL}" is always the workload's service ("${service}"); leave it out or set it to that` });
    }
  });
  checkSelectorServices(file, services, issues);

  const reference = (service: string, port: string, path: (string | number)[]): void => {
    const s = services.get(service);
    if (s === undefined) {
      const known = [...services.keys()].join(', ');
      issues.push({ path: [...path, 'service'], message: `unknown service "${service}" (declared services: ${known})` });
    } else if (!s.ports.has(port)) {
      issues.push({ path: [...path, 'port'], message: `service "${service}" has no port "${port}" (its ports: ${[...s.ports.keys()].join(', ')})` });
    }
  };

  const fixed = new Map<string, string>();
  const claimAddress = (text: string, path: (string | number)[]): void => {
    const hp = parseHostPort(text);
    if (hp === undefined || hp.port === 0) return;
    const key = `${hp.host}:${hp.port}`;
    const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').slice(1);
    const prev = fixed.get(key);
    if (prev !== undefined) issues.push({ path, message: `address ${text} is already used by ${prev}` });
    else fixed.set(key, where);
  };
  claimAddress(spec.controlPlane.api, ['spec', 'controlPlane', 'api']);
  claimAddress(spec.controlPlane.push, ['spec', 'controlPlane', 'push']);

  spec.workloads.forEach((w, i) => {
    const base = ['spec', 'workloads', i];
    const vars = new Map<string, string>();
    w.ports.forEach((p, j) => vars.set(`PORT_${envKey(p.name)}`, `ports[${j}]`));
    w.upstreams.forEach((u, j) => {
      const path = [...base, 'upstreams', j];
      reference(u.service, u.port, path);
      const env = u.env ?? defaultUpstreamEnv(u.service);
      const prev = vars.get(env);
      if (prev !== undefined) {
        issues.push({ path: [...path, u.env !== undefined ? 'env' : 'service'], message: `environment variable ${env} is already set by ${prev}; give this upstream its own "env"` });
      } else vars.set(env, `upstreams[${j}]`);
      if (u.listen !== undefined) {
        if (w.replicas !== 1) issues.push({ path: [...path, 'listen'], message: `a fixed listen address needs replicas: 1 (this workload has ${w.replicas})` });
        claimAddress(u.listen, [...path, 'listen']);
      }
    });
    checkRunBySomethingElse(w, base, issues);
    if (w.readiness?.httpGet !== undefined && !w.ports.some((p) => p.name === w.readiness?.httpGet?.port)) {
      issues.push({ path: [...base, 'readiness', 'httpGet', 'port'], message: `no port named "${w.readiness.httpGet.port}" in this workload` });
    }
  });
  spec.workloads.forEach((w, i) => checkHostList(w.hosts, ['spec', 'workloads', i, 'hosts'], issues));
  checkAppPortsPerHost(spec.workloads, issues);
  spec.ingress.forEach((g, i) => {
    checkHostList(g.hosts, ['spec', 'ingress', i, 'hosts'], issues);
    reference(g.service, g.port, ['spec', 'ingress', i]);
    if (g.listen !== undefined) claimAddress(g.listen, ['spec', 'ingress', i, 'listen']);
    if (g.tls !== undefined) claimAddress(g.tls.listen, ['spec', 'ingress', i, 'tls', 'listen']);
  });
  issues.push(...egressIssues(spec));
  return issues;
}

/**
 * Egress ports: one listener per destination port and protocol; names and variables unique.
 * A variable must not shadow what the mesh already gives a workload (its ports and upstreams).
 */
function egressIssues(spec: MeshFile['spec']): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const names = new Set<string>();
  const ports = new Map<number, number>();
  const envs = new Map<string, number>();
  spec.outbound.ports.forEach((p, i) => {
    const path = ['spec', 'outbound', 'ports', i];
    if (names.has(p.name)) issues.push({ path: [...path, 'name'], message: `duplicate egress port name "${p.name}"` });
    names.add(p.name);
    const prev = ports.get(p.port);
    if (prev !== undefined) issues.push({ path: [...path, 'port'], message: `port ${p.port} is already declared by spec.outbound.ports[${prev}]; one egress listener serves every ExternalService of a port` });
    else ports.set(p.port, i);
    const env = p.env ?? defaultEgressEnv(p.name);
    const prevEnv = envs.get(env);
    if (prevEnv !== undefined) issues.push({ path: [...path, p.env !== undefined ? 'env' : 'name'], message: `environment variable ${env} is already set by spec.outbound.ports[${prevEnv}]` });
    else envs.set(env, i);
    spec.workloads.forEach((w, j) => {
      const taken = w.upstreams.some((u) => (u.env ?? defaultUpstreamEnv(u.service)) === env) || w.ports.some((q) => `PORT_${envKey(q.name)}` === env) || env === 'PORT';
      if (taken) issues.push({ path: [...path, p.env !== undefined ? 'env' : 'name'], message: `environment variable ${env} is already set for spec.workloads[${j}]` });
    });
  });
  return issues;
}

/**
 * `spec.services`: unique names that no workload serves and no ingress uses, a selector that
 * picks at least one workload, and picked workloads that agree on their ports. Each valid
 * service joins `services` so upstreams and ingresses can name it.
 */
function checkSelectorServices(file: MeshFile, services: Map<string, { ports: Map<string, string>; from: number }>, issues: RuleIssue[]): void {
  const spec = file.spec;
  const ingressNames = new Set(spec.ingress.map((g) => g.name));
  const declared = new Set<string>();
  spec.services.forEach((svc, i) => {
    const base = ['spec', 'services', i];
    if (declared.has(svc.name)) {
      issues.push({ path: [...base, 'name'], message: `duplicate service name "${svc.name}"` });
      return;
    }
    declared.add(svc.name);
    if (services.has(svc.name)) {
      issues.push({ path: [...base, 'name'], message: `service "${svc.name}" is already served by spec.workloads[${services.get(svc.name)?.from ?? 0}]; a selected service needs a name of its own` });
      return;
    }
    if (ingressNames.has(svc.name)) {
      issues.push({ path: [...base, 'name'], message: `"${svc.name}" is the name of an ingress; a selected service needs a name of its own` });
      return;
    }
    let first: { ports: Map<string, string>; from: number } | undefined;
    let clash = false;
    spec.workloads.forEach((w, j) => {
      if (clash || !selectorMatches(svc.selector, w)) return;
      const ports = new Map(w.ports.map((p) => [p.name, p.protocol]));
      if (first === undefined) first = { ports, from: j };
      else if (!samePorts(first.ports, ports)) {
        clash = true;
        issues.push({
          path: [...base, 'selector'],
          message: `selects spec.workloads[${first.from}] and spec.workloads[${j}], which declare different ports; the workloads of one service must declare the same port names and protocols`,
        });
      }
    });
    if (first === undefined) {
      const wanted = Object.entries(svc.selector).map(([k, v]) => `${k}=${v}`).join(', ');
      issues.push({ path: [...base, 'selector'], message: `selects no workload (none has labels ${wanted}; every workload also carries ${APP_LABEL}=<its service>)` });
    } else if (!clash) services.set(svc.name, first);
  });
}

type MeshWorkload = MeshFile['spec']['workloads'][number];

/**
 * Fixed app ports (`ports[].appPort`), which a workload without `command` must give: the app
 * is started by something else (systemd, a container), so the mesh cannot choose its port nor
 * hand it variables. A fixed port means one replica per host.
 */
function checkRunBySomethingElse(w: MeshWorkload, base: (string | number)[], issues: RuleIssue[]): void {
  const external = w.command === undefined;
  w.ports.forEach((p, j) => {
    if (p.appPort === undefined) {
      if (external) {
        issues.push({
          path: [...base, 'ports', j, 'appPort'],
          message: 'required: a workload without `command` is run by something else, so give the loopback port its app listens on',
        });
      }
    } else if (w.replicas !== 1) {
      issues.push({ path: [...base, 'ports', j, 'appPort'], message: `a fixed appPort needs replicas: 1 (this workload has ${w.replicas}); list more hosts under \`hosts\` instead` });
    }
  });
  if (!external) return;
  if (Object.keys(w.env).length > 0) {
    issues.push({ path: [...base, 'env'], message: 'a workload without `command` is not started by the agent, so nothing would receive this env' });
  }
  w.upstreams.forEach((u, j) => {
    if (u.listen === undefined) {
      issues.push({
        path: [...base, 'upstreams', j],
        message: 'a workload without `command` needs a fixed `listen` address for each upstream: nothing passes it the address in a variable',
      });
    }
  });
}

function checkHostList(hosts: string[] | undefined, path: (string | number)[], issues: RuleIssue[]): void {
  const seen = new Set<string>();
  hosts?.forEach((h, k) => {
    const key = h.toLowerCase();
    if (seen.has(key)) issues.push({ path: [...path, k], message: `host "${h}" is listed twice` });
    seen.add(key);
  });
}

/** Two workloads that can run on one host (their `hosts` overlap, or either has none) cannot share an appPort. */
function checkAppPortsPerHost(workloads: MeshWorkload[], issues: RuleIssue[]): void {
  const taken: { port: number; hosts: Set<string> | null; where: string }[] = [];
  workloads.forEach((w, i) => {
    const hosts = w.hosts !== undefined ? new Set(w.hosts.map((h) => h.toLowerCase())) : null;
    w.ports.forEach((p, j) => {
      if (p.appPort === undefined) return;
      const clash = taken.find((t) => t.port === p.appPort && (t.hosts === null || hosts === null || [...hosts].some((h) => t.hosts?.has(h))));
      if (clash !== undefined) issues.push({ path: ['spec', 'workloads', i, 'ports', j, 'appPort'], message: `port ${p.appPort} is already the appPort of ${clash.where} on a host this workload runs on` });
      else taken.push({ port: p.appPort, hosts, where: `spec.workloads[${i}].ports[${j}]` });
    });
  });
}

function samePorts(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
