/**
 * Live tap: every request the chosen workload's proxies see, as it finishes. Filter by
 * method, path prefix, status (`failed` included) and gRPC status; pause to read; click a
 * traced request to open its trace.
 */
import { useState } from 'preact/hooks';
import type { TapEvent } from '../../../../src/api/tap.js';
import type { WorkloadView } from '../../../../src/api/registry.js';
import { api } from '../../lib/api-client.js';
import { formatBytes, formatClock, formatMs } from '../../lib/format.js';
import { href } from '../../lib/route.js';
import { usePoll } from '../../lib/use-poll.js';
import { Empty } from '../../components/notice.js';
import { useTap } from './use-tap.js';
import type { TapStatus } from './tap-state.js';
import { grpcText, rowClass, statusClass, statusText, tapBadge } from './tap-row.js';

export function TapView({ query }: { query: URLSearchParams }) {
  const workloads = usePoll((signal) => api.workloads(signal), [], 10_000);
  const workload = query.get('workload') ?? '';
  const [method, setMethod] = useState(query.get('method') ?? '');
  const [path, setPath] = useState(query.get('path') ?? '');
  const [status, setStatus] = useState(query.get('status') ?? '');
  const [grpcStatus, setGrpcStatus] = useState(query.get('grpcStatus') ?? '');
  const [paused, setPaused] = useState(false);
  const tap = useTap({ workload, method, path, status, grpcStatus }, paused);

  return (
    <section class="view" data-testid="view-tap">
      <header class="view-head">
        <h1>Live tap</h1>
        <TapStatusBadge status={tap.status} proxies={tap.proxies.length} />
      </header>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Workload
          <select data-testid="tap-workload" value={workload} onChange={(e) => (location.hash = href('tap', [], { workload: e.currentTarget.value }))}>
            <option value="">every workload</option>
            {(workloads.data ?? []).map((w: WorkloadView) => (
              <option key={`${w.namespace}/${w.name}`} value={`${w.namespace}/${w.name}`} data-workload={`${w.namespace}/${w.name}`}>
                {w.namespace}/{w.name}
                {w.ingress ? ' (ingress)' : ''}
              </option>
            ))}
          </select>
        </label>
        <label>
          Method
          <input data-testid="tap-method" placeholder="GET" size={7} value={method} onChange={(e) => setMethod(e.currentTarget.value.trim())} />
        </label>
        <label>
          Path prefix
          <input data-testid="tap-path" placeholder="/api" value={path} onChange={(e) => setPath(e.currentTarget.value.trim())} />
        </label>
        <label>
          Status
          <input data-testid="tap-status" placeholder="5xx, failed" size={7} title="503, 5xx, 0 (no response), or failed (5xx, no response, or a gRPC status other than OK)" value={status} onChange={(e) => setStatus(e.currentTarget.value.trim())} />
        </label>
        <label>
          gRPC status
          <input data-testid="tap-grpc-status" placeholder="unavailable" size={11} title="a gRPC status code 0-16 or its name" value={grpcStatus} onChange={(e) => setGrpcStatus(e.currentTarget.value.trim())} />
        </label>
        <button type="button" data-testid="tap-pause" onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
      </form>
      {tap.problems.map((p) => (
        <div class="notice notice-error" key={p}>
          {p}
        </div>
      ))}
      {tap.dropped > 0 ? <div class="notice notice-muted">{tap.dropped} requests not shown: more than the tap may send per second.</div> : null}
      {tap.status === 'error' ? <div class="notice notice-error">The tap stream closed. Check the workload exists, or reload.</div> : null}
      {tap.events.length === 0 ? (
        <Empty title={tap.status === 'live' ? 'Waiting for requests…' : 'Connecting to the proxies…'}>Requests appear here as the proxies finish them; send some traffic to {workload === '' ? 'the mesh' : workload}.</Empty>
      ) : (
        <TapTable events={tap.events} />
      )}
    </section>
  );
}

function TapStatusBadge({ status, proxies }: { status: TapStatus; proxies: number }) {
  const { text, tone } = tapBadge(status, proxies);
  return (
    <span class={`pill pill-${tone}`} data-testid="tap-state" data-status={status}>
      {text}
    </span>
  );
}

function TapTable({ events }: { events: TapEvent[] }) {
  return (
    <table class="table tap" data-testid="tap-table">
      <thead>
        <tr>
          <th>Time</th>
          <th>Proxy</th>
          <th>Dir</th>
          <th>Method</th>
          <th>Path</th>
          <th>Status</th>
          <th>Destination</th>
          <th class="num">Latency</th>
          <th class="num">Bytes in/out</th>
          <th>Trace</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e, i) => (
          <tr key={`${e.startedAt}-${e.proxy.nodeId}-${i}`} data-testid="tap-row" data-path={e.path} data-status={e.status} data-grpc-status={e.grpcStatus} class={rowClass(e.status, e.grpcStatus)}>
            <td class="mono">{formatClock(e.startedAt)}</td>
            <td class="mono small">{e.proxy.nodeId}</td>
            <td>{e.direction === 'inbound' ? 'in' : 'out'}</td>
            <td class="mono">{e.method}</td>
            <td class="mono path" title={e.path}>
              {e.path}
            </td>
            <td>
              <span class={`status ${statusClass(e.status)}`}>{statusText(e.status)}</span>
              {e.grpcStatus !== undefined ? <span class={e.grpcStatus === 0 ? 'muted small' : 'reason'}> grpc {grpcText(e.grpcStatus)}</span> : null}
              {e.reason !== undefined ? <span class="reason"> {e.reason}</span> : null}
            </td>
            <td class="small">
              {e.dst.service}
              {e.route !== undefined ? <span class="muted"> via {e.route}</span> : null}
            </td>
            <td class="num">{formatMs(e.durationMs)}</td>
            <td class="num small">
              {formatBytes(e.bytesIn)} / {formatBytes(e.bytesOut)}
            </td>
            <td>{e.traceId !== undefined ? <a href={href('traces', [e.traceId])}>open</a> : <span class="muted">–</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
