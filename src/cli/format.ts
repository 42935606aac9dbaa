import { stringify } from 'yaml';

export const OUTPUTS = ['table', 'json', 'yaml'] as const;
export type Output = (typeof OUTPUTS)[number];

/** Aligned columns, two spaces apart, header in upper case, no trailing spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function yaml(value: unknown): string {
  return stringify(value);
}

/** `2026-11-25T10:00:00.000Z` relative to now: `in 23h`, `5m ago`. */
export function relativeTime(iso: string | null, now: number): string {
  if (iso === null) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = t - now;
  const abs = Math.abs(d);
  const text = abs >= 86_400_000 ? `${Math.floor(abs / 86_400_000)}d` : abs >= 3_600_000 ? `${Math.floor(abs / 3_600_000)}h` : abs >= 60_000 ? `${Math.floor(abs / 60_000)}m` : `${Math.floor(abs / 1000)}s`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}
