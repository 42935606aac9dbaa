/** Query parameters of the stats API, checked up front: a bad one is a 400 naming it. */
import { parseDuration } from '../../util/duration.js';
import { HttpError } from '../api/http-error.js';

/** How long scrapes are kept, and so the longest window. */
export const MAX_WINDOW_MS = 15 * 60_000;
export const DEFAULT_VIEW_WINDOW_MS = 30_000;
export const DEFAULT_SERIES_WINDOW_MS = 5 * 60_000;
const MIN_WINDOW_MS = 1000;

function usage(message: string): HttpError {
  return new HttpError(400, 'TRELLIS_E_USAGE', message);
}

/** `window` (1s..15m) in ms; `fallback` when absent. */
export function windowParam(text: string | null, fallback: number): number {
  if (text === null) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) throw usage(`window must be a duration from 1s to 15m such as 30s or 5m, got ${JSON.stringify(text)}`);
  return ms;
}

export interface SeriesParams {
  kind: 'service' | 'route';
  namespace: string;
  /** Service name, or the route as `<ns>/<name>`. */
  name: string;
  windowMs: number;
  stepMs: number;
}

function required(params: URLSearchParams, name: string): string {
  const v = params.get(name);
  if (v === null || v === '') throw usage(`${name} is required`);
  return v;
}

/**
 * kind service|route; namespace and name (a route's name may carry its namespace:
 * `<ns>/<name>`, then namespace may be left out); window 1s..15m (default 5m); step at most
 * the window, default the scrape interval, and never finer than it (scrapes are that far apart).
 */
export function seriesParams(params: URLSearchParams, intervalMs: number): SeriesParams {
  const kind = required(params, 'kind');
  if (kind !== 'service' && kind !== 'route') throw usage(`kind must be service or route, got ${JSON.stringify(kind)}`);
  let name = required(params, 'name');
  let namespace = params.get('namespace') ?? '';
  if (kind === 'route') {
    const slash = name.indexOf('/');
    if (slash !== -1) {
      const ns = name.slice(0, slash);
      if (namespace !== '' && namespace !== ns) throw usage(`namespace ${JSON.stringify(namespace)} does not match the route ${JSON.stringify(name)}`);
      namespace = ns;
    } else if (namespace !== '') name = `${namespace}/${name}`;
  }
  if (namespace === '') throw usage('namespace is required');
  if (kind === 'service' && name.includes('/')) throw usage(`name must be a service name without "/", got ${JSON.stringify(name)}`);
  const windowMs = windowParam(params.get('window'), DEFAULT_SERIES_WINDOW_MS);
  const stepText = params.get('step');
  let stepMs = intervalMs;
  if (stepText !== null) {
    const ms = parseDuration(stepText);
    if (ms === undefined || ms <= 0 || ms > windowMs) throw usage(`step must be a duration no longer than the window such as 5s, got ${JSON.stringify(stepText)}`);
    stepMs = Math.max(ms, intervalMs);
  }
  return { kind, namespace, name, windowMs, stepMs };
}
