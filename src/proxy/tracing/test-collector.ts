/**
 * Test support (not used by the product): a real OTLP/HTTP JSON collector on 127.0.0.1:0 that
 * decodes what exporters POST to /v1/traces into flat spans (resource and span attributes as
 * plain maps), so tests check the wire format rather than the exporter's internals.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type Value = string | number | boolean;

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: number;
  attributes: Record<string, Value>;
  resource: Record<string, Value>;
}

export interface Collector {
  /** Base URL (`/v1/traces` is appended by the exporter). */
  readonly url: string;
  readonly spans: CollectedSpan[];
  /** POSTs received (any path). */
  requests: number;
  /** Resolves when at least `n` spans arrived (rejects after 5 s). */
  waitFor(n: number): Promise<CollectedSpan[]>;
  close(): Promise<void>;
}

interface KeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
}

function attrs(list: KeyValue[] | undefined): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue ?? ''));
  }
  return out;
}

interface Body {
  resourceSpans: {
    resource: { attributes?: KeyValue[] };
    scopeSpans: { spans: (Omit<CollectedSpan, 'attributes' | 'resource' | 'status' | 'parentSpanId'> & { parentSpanId?: string; attributes?: KeyValue[]; status?: { code?: number } })[] }[];
  }[];
}

export async function startCollector(): Promise<Collector> {
  const spans: CollectedSpan[] = [];
  const server = http.createServer((req, res) => {
    collector.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body;
      for (const rs of body.resourceSpans) {
        const resource = attrs(rs.resource.attributes);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({ ...s, parentSpanId: s.parentSpanId || undefined, attributes: attrs(s.attributes), status: s.status?.code ?? 0, resource });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const collector: Collector = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    requests: 0,
    async waitFor(n) {
      const deadline = Date.now() + 5000;
      while (spans.length < n) {
        if (Date.now() > deadline) throw new Error(`collector got ${spans.length} spans, wanted ${n}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return spans;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return collector;
}
