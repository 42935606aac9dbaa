import { resolve } from 'node:path';
import { clusterName, type Protocol } from '../api/common.js';
import { parseDuration } from '../util/duration.js';
import { ACCESS_LOG_DEFAULTS } from '../telemetry/access-log/defaults.js';
import { parseHostPort } from '../util/hostport.js';
import { parseSize } from '../util/size.js';
import type { MeshFile } from './schema.js';
import type { AccessLogSettings, MeshConfig, ReadinessConfig, WorkloadConfig } from './types.js';

/** `catalog-api` -> `CATALOG_API`: how service and port names become variable names. */
export function envKey(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

/** Default variable for an upstream: `<SERVICE>_ADDR`. */
export function defaultUpstreamEnv(service: string): string {
  return `${envKey(service)}_ADDR`;
}

/** An ingress's plain listener when the file names none (and sets no \`tls\`). */
export const DEFAULT_INGRESS_LISTEN = '127.0.0.1:0';

/** Default variable for an egress port: `EGRESS_<NAME>_ADDR`. */
export function defaultEgressEnv(name: string): string {
  return `EGRESS_${envKey(name)}_ADDR`;
}

/** The label every workload carries implicitly: the service it serves. */
export const APP_LABEL = 'app';

type MeshWorkload = MeshFile['spec']['workloads'][number];

/** A workload's labels with `app: <service>` set (selectors see these). */
export function workloadLabels(w: MeshWorkload): Record<string, string> {
  return { ...w.labels, [APP_LABEL]: w.service ?? w.name };
}

/** True when every selector pair is among the workload's labels. */
export function selectorMatches(selector: Record<string, string>, w: MeshWorkload): boolean {
  const labels = workloadLabels(w);
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Protocol of every `service:port` declared by some workload or selected service. Assumes ./rules.ts passed. */
export function servicePorts(file: MeshFile): Map<string, Protocol> {
  const out = new Map<string, Protocol>();
  for (const w of file.spec.workloads) {
    const service = w.service ?? w.name;
    for (const p of w.ports) out.set(`${service}:${p.name}`, p.protocol as Protocol);
  }
  for (const s of file.spec.services) {
    const w = file.spec.workloads.find((x) => selectorMatches(s.selector, x));
    for (const p of w?.ports ?? []) out.set(`${s.name}:${p.name}`, p.protocol as Protocol);
  }
  return out;
}

/** Applies derived defaults and converts units. Input must have passed the schema and rules. */
export function normalize(file: MeshFile, path: string, dir: string): MeshConfig {
  const ns = file.spec.namespace;
  const protocols = servicePorts(file);
  const protocolOf = (service: string, port: string): Protocol => protocols.get(`${service}:${port}`) ?? 'http';
  const workloads: WorkloadConfig[] = file.spec.workloads.map((w) => {
    const service = w.service ?? w.name;
    const r = w.readiness;
    const readiness: ReadinessConfig = {
      httpGet: r?.httpGet ?? null,
      periodMs: Math.round((r?.periodSeconds ?? 2) * 1000),
      timeoutMs: Math.round((r?.timeoutSeconds ?? 1) * 1000),
      failureThreshold: r?.failureThreshold ?? 3,
      startTimeoutMs: Math.round((r?.startTimeoutSeconds ?? 30) * 1000),
    };
    return {
      name: w.name,
      service,
      serviceAccount: w.serviceAccount ?? service,
      command: w.command !== undefined ? [...w.command] : null,
      replicas: w.replicas,
      hosts: hostList(w.hosts),
      env: Object.fromEntries(Object.entries(w.env).map(([k, v]) => [k, String(v)])),
      ports: w.ports.map((p) => ({ name: p.name, protocol: p.protocol as Protocol, mtls: p.mtls ?? w.mtls ?? file.spec.mtls.mode, appPort: p.appPort ?? null })),
      readiness,
      loadBalancer: w.loadBalancer,
      labels: workloadLabels(w),
      user: w.user ?? null,
      group: w.group ?? null,
      upstreams: w.upstreams.map((u) => ({
        service: u.service,
        port: u.port,
        protocol: protocolOf(u.service, u.port),
        cluster: clusterName(ns, u.service, u.port),
        env: u.env ?? defaultUpstreamEnv(u.service),
        listen: u.listen !== undefined ? (parseHostPort(u.listen) ?? null) : null,
      })),
    };
  });
  return {
    file: path,
    dir,
    name: file.metadata.name,
    trustDomain: file.spec.trustDomain,
    namespace: ns,
    certificateTtlMs: parseDuration(file.spec.certificateTTL) as number,
    drainTimeoutMs: parseDuration(file.spec.drainTimeout) as number,
    controlPlane: {
      api: parseHostPort(file.spec.controlPlane.api) as MeshConfig['controlPlane']['api'],
      push: parseHostPort(file.spec.controlPlane.push) as MeshConfig['controlPlane']['push'],
    },
    accessLog: accessLogSettings(file.spec.accessLog),
    authorization: { defaultAction: file.spec.authorization.defaultAction },
    lockAppPorts: file.spec.mtls.lockAppPorts,
    outbound: {
      mode: file.spec.outbound.mode,
      ports: file.spec.outbound.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, env: p.env ?? defaultEgressEnv(p.name) })),
    },
    tracing: file.spec.tracing.enabled ? { samplingRatio: file.spec.tracing.sampling, collector: file.spec.tracing.collector ?? null } : null,
    ingress: file.spec.ingress.map((i) => ({
      name: i.name,
      listen: i.listen === undefined && i.tls !== undefined ? null : (parseHostPort(i.listen ?? DEFAULT_INGRESS_LISTEN) as MeshConfig['controlPlane']['api']),
      tls:
        i.tls === undefined
          ? null
          : {
              listen: parseHostPort(i.tls.listen) as MeshConfig['controlPlane']['api'],
              certificates: i.tls.certificates.map((c) => ({
                certFile: resolve(dir, c.cert),
                keyFile: resolve(dir, c.key),
                hosts: (c.hosts ?? []).map((h) => h.toLowerCase()),
              })),
            },
      service: i.service,
      port: i.port,
      protocol: protocolOf(i.service, i.port),
      cluster: clusterName(ns, i.service, i.port),
      hosts: hostList(i.hosts),
    })),
    workloads,
    services: file.spec.services.map((s) => ({
      name: s.name,
      selector: { ...s.selector },
      workloads: file.spec.workloads.filter((w) => selectorMatches(s.selector, w)).map((w) => w.name),
    })),
  };
}

/** Host names compare without regard to case (as DNS names do): kept lower-case. */
function hostList(hosts: string[] | undefined): string[] | null {
  return hosts !== undefined ? hosts.map((h) => h.toLowerCase()) : null;
}

function accessLogSettings(a: MeshFile['spec']['accessLog']): AccessLogSettings {
  if (typeof a === 'string') return { destination: a, maxBytes: ACCESS_LOG_DEFAULTS.maxBytes, keep: ACCESS_LOG_DEFAULTS.keep };
  return { destination: a.destination, maxBytes: parseSize(a.maxSize) as number, keep: a.keep };
}
