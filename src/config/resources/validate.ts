import type { z } from 'zod';
import { API_VERSION_OF, RESOURCE_KINDS, type Resource, type ResourceKind } from '../../api/resources.js';
import { formatPath, messageFor } from '../load.js';
import { grpcRouteSettings } from './grpc-annotations.js';
import { metadataSchema, SPEC_SCHEMAS } from './schema.js';

/** One problem in one resource; `key` names an unknown field (its key is the place to point at). */
export interface ResourceProblem {
  path: PropertyKey[];
  message: string;
  key?: string;
}

export type Validated = { ok: true; resource: Resource } | { ok: false; kind: string; name: string; problems: ResourceProblem[] };

const ENVELOPE_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

export { kindFromName } from './kind-names.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function zodProblems(error: z.ZodError, prefix: PropertyKey[]): ResourceProblem[] {
  const out: ResourceProblem[] = [];
  for (const iss of error.issues) {
    if (iss.code === 'unrecognized_keys') for (const k of iss.keys) out.push({ path: [...prefix, ...iss.path], message: 'unknown field', key: k });
    else out.push({ path: [...prefix, ...iss.path], message: iss.message });
  }
  return out;
}

/**
 * Validates one resource document (parsed YAML or JSON) and applies defaults. A resource
 * is accepted or rejected whole; every problem is reported with its field path.
 */
export function validateResource(raw: unknown): Validated {
  if (!isRecord(raw)) return { ok: false, kind: '?', name: '?', problems: [{ path: [], message: 'expected a mapping with apiVersion, kind, metadata and spec' }] };
  const kindRaw = typeof raw.kind === 'string' ? raw.kind : '?';
  const meta = raw.metadata;
  const name = isRecord(meta) && typeof meta.name === 'string' ? meta.name : '?';
  const fail = (problems: ResourceProblem[]): Validated => ({ ok: false, kind: kindRaw, name, problems });

  const problems: ResourceProblem[] = [];
  for (const k of Object.keys(raw)) if (!ENVELOPE_FIELDS.has(k)) problems.push({ path: [], message: 'unknown field', key: k });
  if (raw.kind === undefined) return fail([...problems, { path: ['kind'], message: 'required' }]);
  const kind = (RESOURCE_KINDS as readonly unknown[]).includes(raw.kind) ? (raw.kind as ResourceKind) : undefined;
  if (kind === undefined) return fail([...problems, { path: ['kind'], message: `expected one of ${RESOURCE_KINDS.join(', ')}` }]);
  if (raw.apiVersion !== API_VERSION_OF[kind]) {
    problems.push({ path: ['apiVersion'], message: raw.apiVersion === undefined ? 'required' : `expected ${API_VERSION_OF[kind]} for ${kind}` });
  }
  const m = metadataSchema.safeParse(meta, { error: messageFor });
  if (!m.success) problems.push(...zodProblems(m.error, ['metadata']));
  const s = SPEC_SCHEMAS[kind].safeParse(raw.spec, { error: messageFor });
  if (!s.success) problems.push(...zodProblems(s.error, ['spec']));
  if (kind === 'GRPCRoute' && m.success) {
    const g = grpcRouteSettings(m.data.annotations);
    if (!g.ok) for (const p of g.problems) problems.push({ path: ['metadata', 'annotations', p.annotation], message: p.message });
  }
  if (problems.length > 0 || !m.success || !s.success) return fail(problems);
  const { name: n, namespace, labels, annotations } = m.data;
  return {
    ok: true,
    resource: {
      apiVersion: API_VERSION_OF[kind],
      kind,
      metadata: { name: n, namespace, ...(labels !== undefined ? { labels } : {}), ...(annotations !== undefined ? { annotations } : {}) },
      spec: s.data as Record<string, unknown>,
    },
  };
}

/** `spec.rules[0]` or, for an unknown field, `spec.rules[0].bogus`. */
export function problemPath(p: ResourceProblem): string {
  return formatPath(p.key !== undefined ? [...p.path, p.key] : p.path);
}
