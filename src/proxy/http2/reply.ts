import http2 from 'node:http2';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { REASON_HEADER } from '../../errors.js';
import type { ProxyReason } from '../../errors.js';
import { grpcStatusFromHttp } from '../grpc/grpc-status.js';
import { encodeGrpcMessage } from './grpc-message.js';

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

/**
 * Answers a stream with a proxy-made response, carrying `trellis-reason`. gRPC callers get a
 * trailers-only response (:status 200) whose grpc-status is `grpcStatus`, or else mapped from
 * `status` as gRPC and Envoy map HTTP statuses (503 -> 14 UNAVAILABLE, what their retry logic
 * understands); others get `status` with a short text body. `extra`: flat [name, value, ...]
 * response fields (e.g. location). Returns the grpc-status sent (undefined for HTTP).
 * If the response head is already out the stream can only be reset.
 */
export function respondProxyError(
  stream: ServerHttp2Stream,
  grpc: boolean,
  status: number,
  reason: ProxyReason,
  message: string,
  extra?: readonly string[],
  grpcStatus?: number,
): number | undefined {
  const code = grpc ? (grpcStatus ?? grpcStatusFromHttp(status)) : undefined;
  if (stream.destroyed || stream.closed) return code;
  if (stream.headersSent) {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return code;
  }
  stream.on('error', () => {});
  const head: OutgoingHttpHeaders = grpc
    ? {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeGrpcMessage(`trellis ${reason}: ${message}`),
        [REASON_HEADER]: reason,
      }
    : { ':status': status, 'content-type': 'text/plain; charset=utf-8', [REASON_HEADER]: reason };
  if (extra !== undefined) {
    for (let i = 0; i + 1 < extra.length; i += 2) {
      const name = extra[i] as string;
      if (name.charCodeAt(0) !== 58 /* ':' */ && head[name] === undefined) head[name] = extra[i + 1] as string;
    }
  }
  if (grpc) {
    stream.respond(head, { endStream: true });
  } else {
    stream.respond(head);
    stream.end(`${reason}: ${message}\n`);
  }
  return code;
}
