/** A success rate shown as a coloured pill: green, amber below 99 %, red below 95 %. */
import { formatPercent, health, type Health } from '../lib/format.js';

export function HealthPill({ rate, requests }: { rate: number | null; requests?: number }) {
  const h: Health = requests === 0 ? 'idle' : health(rate);
  return (
    <span class={`pill pill-${h}`} data-health={h}>
      {requests === 0 || rate === null ? 'no traffic' : formatPercent(rate)}
    </span>
  );
}

export function StateBadge({ state, tone }: { state: string; tone: Health }) {
  return <span class={`pill pill-${tone}`}>{state}</span>;
}
