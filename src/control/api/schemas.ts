import { z } from 'zod';
import { PROTOCOLS } from '../../api/common.js';
import type { AgentReport } from '../../api/registry.js';
import { isValidHostName, parseSpiffeId } from '../../identity/spiffe.js';
import { normalizeServiceAccountPattern } from '../auth/host-policy.js';

/** Request bodies the control plane accepts, checked with zod; errors name the field path. */

const segment = z
  .string()
  .regex(/^[a-zA-Z0-9._-]+$/, 'must be letters, digits, ".", "-" or "_"')
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."');
const protocol = z.enum(PROTOCOLS as [string, ...string[]]).transform((p) => p as AgentReport['workloads'][number]['ports'][number]['protocol']);
const port = z.number().int().min(1).max(65535);

const replicaSchema = z.object({
  replica: z.number().int().min(0),
  nodeId: z.string().min(1),
  state: z.enum(['starting', 'ready', 'unhealthy', 'crashed', 'stopping', 'stopped']),
  restarts: z.number().int().min(0),
  appPid: z.number().int().nullable(),
  proxyPid: z.number().int().nullable(),
  adminUrl: z.string(),
  endpoints: z.array(z.object({ port: z.string().min(1), protocol, host: z.string().min(1), portNumber: port })),
  exposed: z.array(z.string().min(1).max(64)).max(64).optional(),
  lastExit: z.object({ code: z.number().int().nullable(), signal: z.string().nullable(), at: z.string() }).nullable(),
});

const workloadSchema = z.object({
  namespace: segment,
  name: z.string().min(1),
  service: z.string().min(1),
  serviceAccount: segment,
  ports: z.array(z.object({ name: z.string().min(1), protocol, mtls: z.enum(['STRICT', 'PERMISSIVE']).optional() })),
  upstreams: z.array(z.string().regex(/^[^/]+\/[^:]+:.+$/, 'must be a cluster name <namespace>/<service>:<port>')),
  ingress: z.boolean(),
  loadBalancer: z.enum(['peak-ewma', 'round-robin']).optional(),
  labels: z.record(z.string().min(1), z.string()).optional(),
  replicas: z.array(replicaSchema),
});

const selectorServiceSchema = z.object({
  namespace: segment,
  name: z.string().min(1),
  selector: z.record(z.string().min(1), z.string()).refine((s) => Object.keys(s).length > 0, 'must name at least one label'),
});

export const agentReportSchema = z.object({
  agentId: z.string().min(1),
  hostname: z.string(),
  leaseMs: z.number().int().min(100).max(24 * 3600 * 1000),
  workloads: z.array(workloadSchema),
  services: z.array(selectorServiceSchema).optional(),
  appPortLock: z
    .object({
      requested: z.boolean(),
      lockedPorts: z.array(port).max(4096),
      unavailable: z.string().max(512).optional(),
    })
    .optional(),
});

export const tokenRequestSchema = z.object({
  nodeId: z.string().min(1),
  identity: z.string().refine((s) => parseSpiffeId(s) !== null, 'must be a SPIFFE ID spiffe://<td>/ns/<ns>/sa/<sa>'),
});

/** Longest a join token may live: joining is an act, not a standing permission. */
export const MAX_JOIN_TOKEN_TTL_MS = 7 * 24 * 3600_000;

export const apiTokenRequestSchema = z.object({
  role: z.enum(['admin', 'read']),
  name: z.string().min(1).max(200),
  ttlMs: z.number().int().min(1000).nullable().optional(),
});

export const joinTokenRequestSchema = z.object({
  host: z.string().refine(isValidHostName, 'must be a host name of letters, digits, ".", "-" or "_"'),
  ttlMs: z.number().int().min(1000).max(MAX_JOIN_TOKEN_TTL_MS),
  serviceAccounts: z
    .array(z.string().transform((s, ctx) => normalizeServiceAccountPattern(s) ?? (ctx.addIssue({ code: 'custom', message: `"${s}" is not [<namespace>/]<serviceAccount> (either part may be *; namespace trellis-system is reserved)` }), z.NEVER)))
    .min(1, 'name at least one service account the host may run (--service-account)'),
  addresses: z.array(z.string().url().refine((u) => u.startsWith('https://'), 'must be an https:// URL')).min(1).optional(),
});

export const joinRequestSchema = z.object({ token: z.string().min(1), csrPem: z.string().min(1) });

export const agentCsrSchema = z.object({ csrPem: z.string().min(1) });

export const certificateRequestSchema = z.object({
  csrPem: z.string().min(1),
  token: z.string().min(1).optional(),
  nodeId: z.string().min(1),
});

export const proxyMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    nodeId: z.string().min(1),
    lastVersion: z.number().int().nullable(),
    status: z.unknown(),
  }),
  z.object({ type: z.literal('ack'), version: z.number().int() }),
  z.object({ type: z.literal('nack'), version: z.number().int(), error: z.string() }),
  z.object({ type: z.literal('status'), status: z.unknown() }),
  z.object({ type: z.literal('ping') }),
]);

export const statusSchema = z.object({
  certNotAfter: z.string(),
  certSerial: z.string(),
  tlsHandshakes: z.number(),
  tlsFailures: z.number(),
  peersVerified: z.number(),
  adminUrl: z.string(),
  plaintextConnections: z.record(z.string().max(63), z.number().int().min(0)).optional(),
});

/** `workloads[0].ports[1].protocol` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(body)' : out;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Parses JSON text against a schema; the message names the first failing field. */
export function parseJson<T>(schema: z.ZodType<T>, text: string): Parsed<T> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `(body): invalid JSON: ${(err as Error).message}` };
  }
  return validate(schema, data);
}

export function validate<T>(schema: z.ZodType<T>, data: unknown): Parsed<T> {
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: r.data };
  const msg = r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
  return { ok: false, message: msg };
}
