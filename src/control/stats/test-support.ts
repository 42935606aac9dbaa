/**
 * For the stats tests: the request series our proxies expose, as Prometheus text, served by
 * real HTTP servers on 127.0.0.1 standing in for proxies' admin listeners.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Labels } from '../../telemetry/golden/parse.js';

export const BOUNDS = ['0.01', '0.1', '1', '+Inf'] as const;

export interface SeriesSpec {
  labels: Labels;
  count: number;
  /** Cumulative per BOUNDS; default every request in the first bucket. */
  buckets?: readonly number[];
}

/** The labels our proxies put on a request series; `over` overrides any of them. */
export function requestLabels(direction: 'inbound' | 'outbound', over: Labels = {}): Labels {
  return {
    direction,
    src_namespace: 'default',
    src_workload: '',
    src_service_account: '',
    dst_namespace: 'default',
    dst_service: '',
    route: '',
    method: 'GET',
    status_code: '200',
    grpc_status: '',
    reason: '',
    ...over,
  };
}

function labelText(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join(',');
}

/** Exposition text with a count and buckets per series (and a line the scraper ignores). */
export function exposition(series: readonly SeriesSpec[]): string {
  const lines = ['# TYPE trellis_requests_total counter', 'process_uptime_seconds 12'];
  for (const s of series) {
    const l = labelText(s.labels);
    lines.push(`trellis_requests_total{${l}} ${s.count}`);
    BOUNDS.forEach((le, i) => lines.push(`trellis_request_duration_seconds_bucket{${l},le="${le}"} ${s.buckets?.[i] ?? s.count}`));
  }
  return `${lines.join('\n')}\n`;
}

export interface FakeProxy {
  /** `127.0.0.1:port` */
  target: string;
  /** What GET /metrics answers from now on. */
  serve(series: readonly SeriesSpec[]): void;
  /** /metrics requests so far. */
  readonly hits: number;
  close(): Promise<void>;
}

export async function startFakeProxy(series: readonly SeriesSpec[] = []): Promise<FakeProxy> {
  let text = exposition(series);
  let hits = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    hits++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    target: `127.0.0.1:${port}`,
    serve: (s) => void (text = exposition(s)),
    get hits() {
      return hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it holds (or fails after `limitMs`, naming `what`). */
export async function waitFor(what: string, check: () => boolean, limitMs = 5000): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
