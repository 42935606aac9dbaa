import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseTapQuery } from '../../telemetry/tap-filter.js';
import type { TapHub } from './tap-hub.js';

/**
 * The admin listener's GET /tap (src/api/tap.ts): NDJSON, an `attached` line first, then one
 * line per matching request until the client leaves or `max` requests were sent. Lines are
 * written only while the socket keeps up (the hub drops and counts the rest).
 */
export function serveTap(req: IncomingMessage, res: ServerResponse, hub: TapHub): void {
  const parsed = parseTapQuery(new URL(req.url ?? '/', 'http://admin').searchParams);
  if (!parsed.ok) {
    res.writeHead(400, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    res.end(`${parsed.message}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.write(`${JSON.stringify({ kind: 'attached', proxies: [hub.nodeId] })}\n`);
  const sub = hub.subscribe(parsed.query, {
    write: (line) => res.write(line),
    end: () => res.end(),
  });
  res.on('drain', () => sub.resume());
  // The reader left (or the admin server closed the connection): stop publishing to it.
  res.once('close', () => sub.close());
}
