import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Access, Principal } from '../auth/principal.js';
import { HttpError } from './http-error.js';

export type RouteMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | '*';

/** What a handler gets: the request, its matched path parameters (decoded) and its caller. */
export interface RouteContext<B> {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Readonly<Record<string, string>>;
  principal: Principal;
  b: B;
}

/**
 * One route of the REST API: method, path pattern (`:name` matches one segment, a final `*`
 * the rest), what it needs, and its handler. The server serves exactly the routes in its
 * table, so the table is also what docs/operations.md lists and what the access test walks.
 */
export interface Route<B> {
  method: RouteMethod;
  path: string;
  access: Access;
  handle(c: RouteContext<B>): Promise<void> | void;
}

export interface Match<B> {
  route: Route<B>;
  params: Record<string, string>;
}

/**
 * The first route whose pattern matches `path` and whose method is `method` (or '*'). Segments
 * are split before decoding, so an encoded slash (`%2F`, in node ids) stays inside its segment.
 * Undefined when no route matches; a bad escape is a 400.
 */
export function matchRoute<B>(routes: readonly Route<B>[], method: string, path: string): Match<B> | undefined {
  const segments = path.split('/');
  // `/api/v1/resources/` is `/api/v1/resources` (but `/` and `/dashboard/` keep theirs).
  if (segments.length > 2 && segments[segments.length - 1] === '' && !path.startsWith('/dashboard')) segments.pop();
  for (const route of routes) {
    if (route.method !== '*' && route.method !== method) continue;
    const params = matchPattern(route.path, segments);
    if (params !== null) return { route, params };
  }
  return undefined;
}

function matchPattern(pattern: string, segments: string[]): Record<string, string> | null {
  const want = pattern.split('/');
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    if (w === '*' && i === want.length - 1) {
      params['*'] = segments.slice(i).join('/');
      return params;
    }
    const got = segments[i];
    if (got === undefined) return null;
    if (w.startsWith(':')) {
      if (got === '') return null;
      params[w.slice(1)] = decodeSegment(got);
    } else if (w !== got) return null;
  }
  return segments.length === want.length ? params : null;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'TRELLIS_E_USAGE', `bad escape in path segment "${s}"`);
  }
}
