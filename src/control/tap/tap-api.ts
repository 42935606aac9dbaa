import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkloadView } from '../../api/registry.js';
import { HttpError } from '../api/http-error.js';

/**
 * GET /api/v1/tap (src/api/tap.ts): opens GET /tap on the admin listener of every running
 * replica of the workload (every proxy without `workload=`) and merges their NDJSON streams.
 */
export function serveTap(_req: IncomingMessage, _res: ServerResponse, _url: URL, _workloads: readonly WorkloadView[]): Promise<void> {
  return Promise.reject(new HttpError(501, 'TRELLIS_E_NOT_IMPLEMENTED', 'tap is not built yet'));
}
