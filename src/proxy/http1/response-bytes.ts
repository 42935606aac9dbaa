import type { HeadEdits } from '../pipeline/head-edits.js';
import type { ResponseHead } from './parser.js';
import { serializeResponseHeadString } from './serialize.js';
import type { ResponseSerializeOptions } from './serialize.js';

/**
 * A final response head, with the whole body when it is already here: one Buffer for one
 * write (one segment, no Nagle stall, no writev), which is the common small response.
 */
export function responseBytes(resp: ResponseHead, opts: ResponseSerializeOptions, edits: HeadEdits | null, body: Buffer | null): Buffer {
  const hs = serializeResponseHeadString(resp, opts, edits);
  if (body === null) return Buffer.from(hs, 'latin1');
  const out = Buffer.allocUnsafe(hs.length + body.length);
  out.write(hs, 0, 'latin1');
  body.copy(out, hs.length);
  return out;
}
