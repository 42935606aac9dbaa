/**
 * The three golden-metric charts (request rate, success rate, latency) for one service or
 * one route, from GET /api/v1/stats/series, refreshed every poll.
 */
import type { SeriesView } from '../../../../src/api/stats.js';
import { api } from '../../lib/api-client.js';
import { formatPercent, formatRps, formatSeconds } from '../../lib/format.js';
import { usePoll } from '../../lib/use-poll.js';
import { Empty, PollState } from '../../components/notice.js';
import { palette } from '../../lib/palette.js';
import { MetricChart } from './metric-chart.js';

export const SERIES_WINDOW = '5m';

export function GoldenCharts({ kind, namespace, name }: { kind: 'service' | 'route'; namespace: string; name: string }) {
  const series = usePoll((signal) => api.series(kind, namespace, name, SERIES_WINDOW, signal), [kind, namespace, name]);
  return (
    <PollState polled={series} what="the charts">
      {(view) => <Charts view={view} />}
    </PollState>
  );
}

function Charts({ view }: { view: SeriesView }) {
  if (view.points.length === 0) {
    return <Empty title="No data points yet.">The control plane keeps a point every {view.stepSeconds || 'few'} s once it has scraped twice; send some traffic and wait a few seconds.</Empty>;
  }
  const times = view.points.map((p) => p.t / 1000);
  const rps = view.points.map((p) => p.rps);
  const success = view.points.map((p) => p.successRate);
  return (
    <div class="charts" data-testid="golden-charts" data-kind={view.kind} data-name={view.name}>
      <MetricChart testId="chart-rps" title="Requests per second" times={times} series={[{ label: 'rps', stroke: palette.accent, values: rps }]} format={formatRps} />
      <MetricChart
        testId="chart-success"
        title="Success rate"
        times={times}
        series={[{ label: 'success', stroke: palette.ok, values: success }]}
        format={formatPercent}
        ratio
      />
      <MetricChart
        testId="chart-latency"
        title="Latency"
        times={times}
        series={[
          { label: 'p50', stroke: palette.accent, values: view.points.map((p) => p.p50) },
          { label: 'p95', stroke: palette.warn, values: view.points.map((p) => p.p95) },
          { label: 'p99', stroke: palette.bad, values: view.points.map((p) => p.p99) },
        ]}
        format={formatSeconds}
      />
    </div>
  );
}
