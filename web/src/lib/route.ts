/**
 * Hash routes, parsed and written: `#/graph`, `#/services/<ns>/<name>`, `#/routes/<ns>/<name>`,
 * `#/workloads`, `#/resources`, `#/traces/<traceId>`, `#/tap?workload=<ns>/<name>`. The hash keeps
 * every view linkable and survives a reload without any server-side routing. Pure (no DOM), so
 * Node tests can run it; the preact hook that follows `location.hash` is in router.ts.
 */

export interface Route {
  view: string;
  /** Path segments after the view, decoded. */
  args: string[];
  query: URLSearchParams;
}

/** The view an empty hash shows. */
export const DEFAULT_VIEW = 'graph';

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const parts = path.split('/').filter((p) => p !== '').map(safeDecode);
  return { view: parts[0] ?? DEFAULT_VIEW, args: parts.slice(1), query };
}

/** A hand-edited hash may hold a lone `%`: keep the segment as typed rather than fail the view. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Each arg is one segment: a `/` inside it is encoded, so `parseHash(href(v, args)).args` is `args`. */
export function href(view: string, args: string[] = [], query?: Record<string, string>): string {
  const path = [view, ...args.map(encodeURIComponent)].join('/');
  const qs = query === undefined ? '' : new URLSearchParams(query).toString();
  return `#/${path}${qs === '' ? '' : `?${qs}`}`;
}
