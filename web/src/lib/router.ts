/**
 * Hash routing: `#/graph`, `#/services/<ns>/<name>`, `#/routes/<ns>/<name>`, `#/workloads`,
 * `#/resources`, `#/traces/<traceId>`, `#/tap?workload=<ns>/<name>`. The hash keeps every view
 * linkable and survives a reload without any server-side routing.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  view: string;
  /** Path segments after the view, decoded. */
  args: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const parts = path.split('/').filter((p) => p !== '').map(safeDecode);
  return { view: parts[0] ?? 'graph', args: parts.slice(1), query };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function href(view: string, args: string[] = [], query?: Record<string, string>): string {
  const path = [view, ...args.map(encodeURIComponent)].join('/');
  const qs = query === undefined ? '' : new URLSearchParams(query).toString();
  return `#/${path}${qs === '' ? '' : `?${qs}`}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseHash(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
