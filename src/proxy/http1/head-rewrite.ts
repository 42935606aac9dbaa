/**
 * A request plan's edits to the heads the HTTP/1 forwarder sends on: request header modifier
 * and URL rewrite on the forwarded request, response header modifier and the lease's extra
 * fields on the response sent downstream. Each returns a modified copy of the parsed head and
 * leaves the original alone (the access log keeps what the client sent); the serializer then
 * drops hop-by-hop fields and re-emits framing as usual, so an edit can never change framing.
 * Only called for requests that have such edits.
 */
import type { CompiledHeaderModifier, CompiledUrlRewrite } from '../routing/types.js';
import { applyHeaderModifier, rewritePath, splitTarget } from '../routing/rewrite.js';
import type { RequestHead, ResponseHead } from './parser.js';
import { TRACE_HEADERS } from '../../telemetry/tracing/context.js';
import { firstHeader } from '../../util/flat-headers.js';

export interface PlannedRewrite {
  readonly rewrite: CompiledUrlRewrite;
  readonly matchedPrefix: string | undefined;
}

/**
 * The head to forward for `req` under a plan's request edits (`req` itself when there are none).
 * The result always carries exactly one Host field when the request had one: a modifier that
 * removes Host gets the original back, one that adds a second has it dropped (two Host fields
 * would make the upstream answer 400 or, worse, pick a different one than we logged).
 */
export function plannedRequestHead(
  req: RequestHead,
  headerMod: CompiledHeaderModifier | undefined,
  rewrite: PlannedRewrite | undefined,
): RequestHead {
  if (headerMod === undefined && rewrite === undefined) return req;
  let headers = req.headers;
  let target = req.target;
  let host = req.host;
  let hostEdited = false;
  if (headerMod !== undefined) {
    headers = applyHeaderModifier(headers, headerMod);
    host = firstHeader(headers, 'host') ?? req.host;
    hostEdited = true;
  }
  if (rewrite !== undefined) {
    const rw = rewrite.rewrite;
    if (rw.path !== undefined) {
      const { path, rest } = splitTarget(target);
      target = rewritePath(path, rw.path, rewrite.matchedPrefix) + rest;
    }
    if (rw.hostname !== undefined) {
      host = rw.hostname;
      hostEdited = true;
    }
  }
  if (hostEdited && host !== undefined) headers = withHost(headers, host);
  return {
    ...req,
    headers,
    target,
    host,
    startLine: req.method + ' ' + target + (req.versionMinor === 1 ? ' HTTP/1.1' : ' HTTP/1.0'),
  };
}

/**
 * The response head to send downstream: `mod` applied, then `extra` (flat [name, value, ...])
 * appended. `resp` itself when there is nothing to do.
 */
export function plannedResponseHead(
  resp: ResponseHead,
  mod: CompiledHeaderModifier | undefined,
  extra: readonly string[] | undefined,
): ResponseHead {
  if (mod === undefined && (extra === undefined || extra.length === 0)) return resp;
  const headers = mod !== undefined ? applyHeaderModifier(resp.headers, mod) : resp.headers.slice();
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) headers.push(extra[i] as string);
  return { ...resp, headers };
}

/**
 * The head to forward for a traced request: the caller's trace fields (TRACE_HEADERS) dropped
 * and this hop's (`hopHeaders`) appended, so the next hop's parent is this hop's span. Only
 * called while tracing is on; the serializer drops hop-by-hop fields as usual.
 */
export function tracedRequestHead(req: RequestHead, traceFields: readonly string[]): RequestHead {
  const h = req.headers;
  const headers: string[] = [];
  for (let i = 0; i + 1 < h.length; i += 2) {
    const name = h[i] as string;
    if (!TRACE_HEADERS.has(name)) headers.push(name, h[i + 1] as string);
  }
  for (let i = 0; i < traceFields.length; i++) headers.push(traceFields[i] as string);
  return { ...req, headers };
}

/** `headers` with the first Host field set to `host` (appended if absent) and any other dropped. */
export function withHost(headers: readonly string[], host: string): string[] {
  const out: string[] = [];
  let seen = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name === 'host') {
      if (seen) continue;
      seen = true;
      out.push('host', host);
    } else {
      out.push(name, headers[i + 1] as string);
    }
  }
  if (!seen) out.push('host', host);
  return out;
}

