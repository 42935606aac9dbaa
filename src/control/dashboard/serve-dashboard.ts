import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Serves the dashboard's bundled assets (web/dist, built by `npm run build`) at /dashboard/,
 * and redirects / there. Returns false when the path is not the dashboard's.
 */
export function serveDashboard(_req: IncomingMessage, _res: ServerResponse, _path: string): Promise<boolean> {
  return Promise.resolve(false);
}
