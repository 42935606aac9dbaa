/**
 * One time-series chart (uPlot). The chart is created once per mount and fed new data on
 * every poll; its container carries `data-points` and `data-last` so a browser test can see
 * it update without reading pixels.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { palette } from '../../lib/palette.js';

export interface ChartSeries {
  label: string;
  /** CSS colour. */
  stroke: string;
  values: (number | null)[];
}

export interface MetricChartProps {
  testId: string;
  title: string;
  /** Epoch seconds. */
  times: number[];
  series: ChartSeries[];
  /** Formats an axis or legend value. */
  format: (v: number) => string;
  /** A ratio (success rate): y from min(90 %, lowest value) to 100 %; otherwise from 0 to the data's max. */
  ratio?: boolean;
}

const HEIGHT = 180;

export function MetricChart(props: MetricChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = [props.times, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
  const seriesKey = props.series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = holder.current;
    if (el === null) return;
    const { format, ratio } = props;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      // A legend only where it tells lines apart (latency: p50/p95/p99).
      legend: { show: props.series.length > 1, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: ratio === true ? (_u, min) => [Math.min(0.9, min), 1] : (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      axes: [
        { stroke: palette.muted, space: 90, values: (_u, vals) => vals.map(clockLabel), grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid } },
        { stroke: palette.muted, size: 78, values: (_u, vals) => vals.map(format), grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid } },
      ],
      series: [
        {},
        ...props.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: false, value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)), points: { show: false } })),
      ],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // A new set of series needs a new chart; new values only need setData below.
  }, [seriesKey]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const first = props.series[0]?.values ?? [];
  const last = lastValue(first);
  return (
    <figure class="chart" data-testid={props.testId} data-points={props.times.length} data-last={last ?? ''} data-last-t={props.times[props.times.length - 1] ?? ''}>
      <figcaption>
        {props.title}
        <span class="chart-now">{last === null ? 'no data' : `${props.series.length > 1 ? `${props.series[0]?.label ?? ''} ` : ''}${props.format(last)}`}</span>
      </figcaption>
      <div ref={holder} class="chart-plot" />
    </figure>
  );
}

function lastValue(values: readonly (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** HH:MM:SS for an axis tick in epoch seconds (uPlot's default two-line dates crowd a small chart). */
function clockLabel(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}`;
}
