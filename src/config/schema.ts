import { z } from 'zod';
import { PROTOCOLS } from '../api/common.js';
import { parseDuration } from '../util/duration.js';
import { parseHostPort } from '../util/hostport.js';
import { parseSize } from '../util/size.js';
import { ACCESS_LOG_DEFAULTS } from '../telemetry/access-log/defaults.js';

/**
 * zod schema of the mesh file (docs/mesh-file.md). Strict: unknown fields are errors.
 * Cross-field rules (unique names, references) live in ./rules.ts; defaults that depend on
 * other fields (service, serviceAccount, upstream env) are filled in by ./normalize.ts.
 */

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const label = z
  .string()
  .regex(DNS_LABEL, 'expected a lower-case DNS label (a-z, 0-9, "-", at most 63 characters, starting and ending alphanumeric)');

export const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'expected a duration such as 500ms, 10s, 5m, 24h',
});

export const hostPort = z.string().refine((s) => parseHostPort(s) !== undefined, {
  message: 'expected host:port (e.g. 127.0.0.1:8080; port 0 picks a free port)',
});

/** A user or group as `getent` takes it: a POSIX name or a numeric id. */
const accountName = z.string().regex(/^(?:[a-z_][a-z0-9_-]{0,31}\$?|[0-9]{1,10})$/, 'expected a user or group name (e.g. trellis-app) or a numeric id');

const envName = z.string().regex(ENV_NAME, 'expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)');

/**
 * How a workload's inbound port treats callers (Istio's PeerAuthentication modes): STRICT
 * accepts mTLS only; PERMISSIVE also accepts plaintext from unmeshed clients, who then have
 * no identity (docs/security.md, "mTLS modes").
 */
export const MTLS_MODES = ['STRICT', 'PERMISSIVE'] as const;
const mtlsMode = z.enum(MTLS_MODES, { error: 'expected STRICT or PERMISSIVE' });

const portSchema = z.strictObject({
  name: label,
  protocol: z.enum(PROTOCOLS as [string, ...string[]]).default('http'),
  /** This port's mode; absent: the workload's `mtls`, else the mesh's `spec.mtls.mode`. */
  mtls: mtlsMode.optional(),
  /** Fixed loopback port the app listens on (a workload without `command` must give it). */
  appPort: z.int().min(1).max(65535).optional(),
});

/**
 * A host's name as its agent knows it (the host name, or `trellis agent --host`). Compared
 * without regard to case, as DNS names are; normalize.ts lower-cases it.
 */
const hostName = z.string().regex(HOST_NAME, 'expected a host name (letters, digits, "-" and ".", e.g. h1 or web-3.example.net)');

/** Where a workload or ingress runs when several hosts share one mesh file; absent: on every host. */
const hostsSchema = z.array(hostName).min(1, 'expected at least one host (leave `hosts` out to run on every host)');

const readinessSchema = z.strictObject({
  httpGet: z
    .strictObject({
      path: z.string().startsWith('/', 'expected a path starting with "/"'),
      port: label,
    })
    .optional(),
  periodSeconds: z.number().positive().max(3600).default(2),
  timeoutSeconds: z.number().positive().max(3600).default(1),
  failureThreshold: z.int().min(1).max(100).default(3),
  startTimeoutSeconds: z.number().positive().max(3600).default(30),
});

const upstreamSchema = z.strictObject({
  service: label,
  port: label,
  env: envName.optional(),
  listen: hostPort.optional(),
});

/** Label keys and values are DNS labels (selectors compare them exactly). */
const labels = z.record(label, label);

const selectorServiceSchema = z.strictObject({
  name: label,
  selector: labels.refine((m) => Object.keys(m).length > 0, { message: 'expected at least one label' }),
});

const workloadSchema = z.strictObject({
  name: label,
  service: label.optional(),
  serviceAccount: label.optional(),
  /** Absent: something else (systemd, a container) runs the app; the agent runs its proxy only. */
  command: z.array(z.string().min(1, 'expected a non-empty string')).min(1, 'expected at least the program to run').optional(),
  /** Replicas per host it runs on. */
  replicas: z.int().min(1).max(64).default(1),
  hosts: hostsSchema.optional(),
  env: z.record(envName, z.union([z.string(), z.number(), z.boolean()])).default({}),
  ports: z.array(portSchema).min(1, 'expected at least one port'),
  /** The mTLS mode of this workload's (its service's) ports; absent: `spec.mtls.mode`. */
  mtls: mtlsMode.optional(),
  readiness: readinessSchema.optional(),
  upstreams: z.array(upstreamSchema).default([]),
  /** How callers spread requests over this service's endpoints. */
  loadBalancer: z.enum(['peak-ewma', 'round-robin']).default('peak-ewma'),
  /** For `spec.services` selectors; `app: <service>` is always added. */
  labels: labels.default({}),
  /** Who the app runs as (a name or a number); src/agent/run-as. Only an agent running as root can switch. */
  user: accountName.optional(),
  group: accountName.optional(),
});

/** A host name a certificate serves: a DNS name, or `*.` and a DNS name (one label), any case. */
const SERVER_NAME = /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const ingressCertificateSchema = z.strictObject({
  /** PEM certificate (the leaf first, then any intermediates); relative to the mesh file's folder. */
  cert: z.string().min(1, 'expected a file path'),
  /** PEM private key, unencrypted. */
  key: z.string().min(1, 'expected a file path'),
  /** Host names this pair serves; absent: the certificate's DNS names. */
  hosts: z.array(z.string().regex(SERVER_NAME, 'expected a host name such as shop.example.com or *.example.com')).optional(),
});

/** Ingress TLS (docs/security.md): its own listener, certificates chosen by SNI, the first the default. */
const ingressTlsSchema = z.strictObject({
  listen: hostPort.default('127.0.0.1:0'),
  certificates: z.array(ingressCertificateSchema).min(1, 'expected at least one certificate'),
});

const ingressSchema = z.strictObject({
  name: label,
  /** The plain-text listener. Absent: 127.0.0.1:0, or none when `tls` is set (TLS only). */
  listen: hostPort.optional(),
  service: label,
  port: label,
  tls: ingressTlsSchema.optional(),
  hosts: hostsSchema.optional(),
});

/**
 * `spec.outbound`: how workloads reach services outside the mesh (docs/configuration.md,
 * "Outbound mode"). Every workload's proxy opens one loopback egress listener per port below;
 * `registryOnly` lets through only destinations declared as ExternalService resources.
 */
const egressPortSchema = z.strictObject({
  name: label,
  /** The destination port (443, 80...): ExternalServices of this port are reached through it. */
  port: z.int().min(1).max(65535),
  /** `tls`: passthrough, routed by the ClientHello's SNI; `http`: HTTP/1.1, routed by Host. */
  protocol: z.enum(['http', 'tls']),
  /** Variable that carries the listener's address to the app; default EGRESS_<NAME>_ADDR. */
  env: envName.optional(),
});

export const DEFAULT_OUTBOUND_MODE = 'allowAny';

const outboundSchema = z.strictObject({
  mode: z.enum(['allowAny', 'registryOnly']).default(DEFAULT_OUTBOUND_MODE),
  ports: z.array(egressPortSchema).max(32).default([]),
});

/** OTLP/HTTP collectors are reached over plain http or https. */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * The mesh-wide defaultAction when the mesh file says nothing: `allow`, what the mesh did
 * before policies existed (STRICT mTLS lets only mesh identities in at all). Set `deny` and
 * write ALLOW policies to lock a mesh down.
 */
export const DEFAULT_MESH_AUTHORIZATION = 'allow';

/** Share of new traces recorded when the mesh file says nothing: 1%. */
export const DEFAULT_TRACE_SAMPLING = 0.01;

const tracingSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Probability that a new trace (no caller decision) is recorded. */
  sampling: z.number().min(0).max(1).default(DEFAULT_TRACE_SAMPLING),
  /** OTLP/HTTP traces URL; absent = the control plane's own `/v1/traces`. */
  collector: z
    .string()
    .refine(isHttpUrl, { message: 'expected an http:// or https:// URL (e.g. http://127.0.0.1:4318/v1/traces)' })
    .optional(),
});

/** A byte size of at least 1KiB: a whole number of bytes or e.g. `32MiB`, `500KB` (src/util/size.ts). */
const size = z.union([z.int(), z.string()]).refine((v) => (parseSize(v) ?? 0) >= 1024, {
  message: 'expected a size of at least 1KiB, such as 32MiB, 500KB or a number of bytes',
});

const accessLogDestination = z.enum(['off', 'stdout', 'file']);

/** `accessLog: file` (the short form), or the long form with rotation settings. */
const accessLogSchema = z.union(
  [
    accessLogDestination,
    z.strictObject({
      destination: accessLogDestination.default('file'),
      /** Rotate before the file would pass this size. */
      maxSize: size.default(ACCESS_LOG_DEFAULTS.maxBytes),
      /** Rotated files kept beside the live one. */
      keep: z.int().min(0).max(100).default(ACCESS_LOG_DEFAULTS.keep),
    }),
  ],
  { error: 'expected one of off, stdout, file, or {destination, maxSize, keep}' },
);

export const meshFileSchema = z.strictObject({
  apiVersion: z.literal('trellis.dev/v1alpha1'),
  kind: z.literal('Mesh'),
  metadata: z.strictObject({ name: label }),
  spec: z.strictObject({
    trustDomain: z.string().regex(DNS_NAME, 'expected a lower-case DNS name (e.g. shop.trellis.local)').default('trellis.local'),
    namespace: label.default('default'),
    certificateTTL: duration.default('24h'),
    drainTimeout: duration.default('5s'),
    controlPlane: z
      .strictObject({
        api: hostPort.default('127.0.0.1:15000'),
        push: hostPort.default('127.0.0.1:15012'),
      })
      .default({ api: '127.0.0.1:15000', push: '127.0.0.1:15012' }),
    accessLog: accessLogSchema.default('file'),
    tracing: tracingSchema.default({ enabled: true, sampling: DEFAULT_TRACE_SAMPLING }),
    /**
     * Mesh-wide authorization: what a request gets when no AuthorizationPolicy DENY or ALLOW
     * matched, for services without their own `defaultAction` (docs/security.md).
     */
    authorization: z
      .strictObject({ defaultAction: z.enum(['allow', 'deny', 'authenticated']).default(DEFAULT_MESH_AUTHORIZATION) })
      .default({ defaultAction: DEFAULT_MESH_AUTHORIZATION }),
    /**
     * Mesh-wide mTLS: the default mode of every inbound port, and whether the agent closes the
     * plaintext bypass (an app listening on a non-loopback address) with nftables rules that
     * let only loopback reach the app's ports (docs/security.md, "The plaintext bypass").
     */
    mtls: z
      .strictObject({
        mode: mtlsMode.default('STRICT'),
        lockAppPorts: z.boolean().default(false),
      })
      .default({ mode: 'STRICT', lockAppPorts: false }),
    /** Egress: the outbound mode and the egress listeners every workload's proxy opens. */
    outbound: outboundSchema.default({ mode: DEFAULT_OUTBOUND_MODE, ports: [] }),
    ingress: z.array(ingressSchema).default([]),
    workloads: z.array(workloadSchema).min(1, 'expected at least one workload'),
    /** Services declared by label selector (e.g. one per version, for canaries). */
    services: z.array(selectorServiceSchema).default([]),
  }),
});

export type MeshFile = z.output<typeof meshFileSchema>;
