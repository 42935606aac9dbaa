import { createReadStream, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../../util/paths.js';
import { assetInfo, assetPathFor, contentTypeOf, DASHBOARD_PREFIX, INDEX_FILE } from './dashboard-assets.js';

/** Where `npm run build` (scripts/build-dashboard.mjs) puts the bundle. */
export const defaultDashboardDir: string = join(packageRoot, 'web', 'dist');

/**
 * Headers on every dashboard answer. The bundle has no inline script and loads nothing from
 * elsewhere, so the policy can be strict; styles set from script (uPlot, preact's style
 * props) go through the CSSOM, which style-src does not restrict.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

/**
 * Serves the files of `distDir` at /dashboard/ (index.html for /dashboard and /dashboard/)
 * and redirects / there. Files are revalidated on every load (`no-cache` + a weak ETag from
 * size and mtime): the names carry no hash, so a rebuilt bundle must never be served stale.
 */
export function dashboardHandler(distDir: string): DashboardHandler {
  return async (req, res, path) => {
    if (path === '/') {
      res.writeHead(302, { location: `${DASHBOARD_PREFIX}/`, 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('see /dashboard/\n');
      return true;
    }
    if (path !== DASHBOARD_PREFIX && !path.startsWith(`${DASHBOARD_PREFIX}/`)) return false;

    if (!existsSync(join(distDir, INDEX_FILE))) {
      text(res, 503, `dashboard not built: run npm run build (no ${join(distDir, INDEX_FILE)})\n`);
      return true;
    }
    const file = assetPathFor(distDir, path);
    const info = file === undefined ? undefined : await assetInfo(file);
    if (file === undefined || info === undefined) {
      text(res, 404, `no dashboard file ${path}\n`);
      return true;
    }
    const headers = { 'content-type': contentTypeOf(file), 'cache-control': 'no-cache', etag: info.etag, ...SECURITY_HEADERS };
    if (req.headers['if-none-match'] === info.etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': String(info.size) });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    await new Promise<void>((resolve) => {
      const stream = createReadStream(file);
      stream.once('error', () => {
        // Headers are out: all we can do for a file that vanished mid-read is cut the answer.
        res.destroy();
        resolve();
      });
      stream.once('end', resolve);
      stream.pipe(res);
    });
    return true;
  };
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY_HEADERS }).end(body);
}

const serveDefault = dashboardHandler(defaultDashboardDir);

/**
 * Serves the dashboard's bundled assets (web/dist, built by `npm run build`) at /dashboard/,
 * and redirects / there. Returns false when the path is not the dashboard's.
 */
export function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  return serveDefault(req, res, path);
}
