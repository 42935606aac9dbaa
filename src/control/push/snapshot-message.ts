import type { ControlMessage } from '../../api/push.js';
import type { ProxySnapshot } from '../../api/snapshot.js';

/** A compiled snapshot as the push server gets it: with its content's JSON when the compiler kept it. */
export interface EncodableSnapshot {
  snapshot: ProxySnapshot;
  /** JSON.stringify of the snapshot without `version`. */
  contentJson?: string;
}

/**
 * The `snapshot` message line (NDJSON) as bytes, made once per snapshot object: every proxy
 * with the same content and version shares one object (SnapshotCache), so a change seen by a
 * thousand proxies is serialised and UTF-8 encoded once, not a thousand times. Kept as long as
 * the snapshot object is.
 */
const encoded = new WeakMap<ProxySnapshot, Buffer>();

export function snapshotMessage(c: EncodableSnapshot): Buffer {
  let b = encoded.get(c.snapshot);
  if (b === undefined) {
    // Same bytes as JSON.stringify({ type: 'snapshot', snapshot }): `version` is the snapshot's first key.
    const line =
      c.contentJson !== undefined && c.contentJson.startsWith('{') && c.contentJson.length > 2
        ? `{"type":"snapshot","snapshot":{"version":${JSON.stringify(c.snapshot.version)},${c.contentJson.slice(1)}}\n`
        : `${JSON.stringify({ type: 'snapshot', snapshot: c.snapshot } satisfies ControlMessage)}\n`;
    b = Buffer.from(line, 'utf8');
    encoded.set(c.snapshot, b);
  }
  return b;
}
