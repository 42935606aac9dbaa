/**
 * The dashboard's "why" form as the API query (GET /api/v1/why), and the verdict's wording.
 * Pure (no DOM), so Node tests can run it.
 */
import type { WhyAnswer } from '../../../../src/api/why.js';

export interface WhyForm {
  source: string;
  /** `namespace/name` of the service page's service. */
  target: string;
  method: string;
  path: string;
  /** One `name: value` (or `name=value`) per line. */
  headers: string;
}

/** The query string, or an error message for a line that is not a header. */
export function whyQuery(f: WhyForm): { ok: true; query: string } | { ok: false; message: string } {
  const p = new URLSearchParams({ source: f.source.trim(), target: f.target.trim() });
  if (f.method.trim() !== '') p.set('method', f.method.trim());
  if (f.path.trim() !== '') p.set('path', f.path.trim());
  for (const raw of f.headers.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const at = [line.indexOf(':'), line.indexOf('=')].filter((i) => i > 0).sort((a, b) => a - b)[0];
    if (at === undefined) return { ok: false, message: `"${line}" is not a header: write name: value` };
    p.append('header', `${line.slice(0, at).trim()}:${line.slice(at + 1).trim()}`);
  }
  return { ok: true, query: p.toString() };
}

export const OUTCOME_LABEL: Record<WhyAnswer['outcome'], string> = {
  allowed: 'Allowed: served by the app',
  denied: 'Denied: 403 unauthorized',
  'bad-path': 'Refused: 400 bad-path',
  'no-route': 'Refused: 404 no route',
  redirect: 'Redirected by the caller’s proxy',
  'no-backend': 'Failed: 500 no backend',
  'unknown-cluster': 'Not an upstream of the caller',
  'no-endpoints': 'Failed: 503 no ready endpoint',
};
