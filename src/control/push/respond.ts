import type { Http2ServerResponse } from 'node:http2';
import type { ErrorBody } from '../../api/push.js';

export function sendJson(res: Http2ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function sendError(res: Http2ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } } satisfies ErrorBody);
}
