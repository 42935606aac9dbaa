import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { OtlpExportResponse } from '../../api/traces.js';
import type { ReceiveResult } from '../../telemetry/tracing/index.js';
import { OTLP_TRACES_PATH } from '../../telemetry/tracing/index.js';

/**
 * `POST /v1/traces`: the OTLP/HTTP trace receiver (JSON encoding only). Errors answer with
 * the google.rpc.Status JSON the OTLP/HTTP spec asks for; no token is required, as for an
 * OpenTelemetry collector, since the API listens on loopback by default.
 */

const gunzipAsync = promisify(gunzip);

/** What the endpoint feeds: bounded parsing plus storage (the control plane's TraceCollector). */
export interface TraceReceiver {
  readonly maxBodyBytes: number;
  receive(body: Buffer): ReceiveResult;
}

/** google.rpc.Code INVALID_ARGUMENT: every refusal here is about the request. */
const INVALID_ARGUMENT = 3;

export function isOtlpTracesPath(path: string): boolean {
  return path === OTLP_TRACES_PATH;
}

/** `?limit=` of GET /api/v1/traces: 1..1000, default 50; undefined when invalid. */
export function traceLimit(raw: string | null): number | undefined {
  if (raw === null) return 50;
  if (!/^\d{1,4}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= 1 && n <= 1000 ? n : undefined;
}

export async function receiveOtlpTraces(req: IncomingMessage, res: ServerResponse, receiver: TraceReceiver): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return status(res, 405, `${req.method ?? ''} is not allowed on ${OTLP_TRACES_PATH}; export spans with POST`);
  }
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    const hint = type === 'application/x-protobuf' ? 'OTLP/protobuf is not supported here' : `content-type "${type}" is not supported`;
    return status(res, 415, `${hint}: send OTLP/HTTP JSON (content-type: application/json), e.g. OTEL_EXPORTER_OTLP_PROTOCOL=http/json`);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') return status(res, 415, `content-encoding "${encoding}" is not supported (identity or gzip)`);

  const max = receiver.maxBodyBytes;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return tooLarge(req, res, max);
  let body = await readBody(req, max);
  if (body === null) return tooLarge(req, res, max);
  if (encoding === 'gzip') {
    try {
      body = await gunzipAsync(body, { maxOutputLength: max });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return status(res, 413, `decompressed body is over the limit of ${max} bytes`);
      return status(res, 400, `body is not valid gzip: ${(err as Error).message}`);
    }
  }

  const r = receiver.receive(body);
  if (!r.ok) return status(res, 400, r.error);
  const answer: OtlpExportResponse = { partialSuccess: {} };
  if (r.rejected > 0) {
    // OTLP JSON encodes int64 as a decimal string.
    answer.partialSuccess = { rejectedSpans: String(r.rejected), errorMessage: `${r.rejected} malformed span(s) skipped (bad ids, times or fields)` };
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
}

/** The body, or null once it passes `max` bytes (the rest is drained, not kept). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function tooLarge(req: IncomingMessage, res: ServerResponse, max: number): void {
  // Reading on discards the rest, so the client sees the answer rather than a reset.
  req.resume();
  status(res, 413, `body is over the limit of ${max} bytes; send smaller batches`);
}

function status(res: ServerResponse, httpStatus: number, message: string): void {
  res.writeHead(httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify({ code: INVALID_ARGUMENT, message }));
}
