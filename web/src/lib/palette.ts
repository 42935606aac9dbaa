/** Colours for canvas drawing (uPlot cannot read CSS variables); the same values as styles.css. */
export const palette = {
  accent: '#3b82f6',
  ok: '#16a34a',
  warn: '#d97706',
  bad: '#dc2626',
  muted: '#6b7280',
  grid: '#e5e7eb',
} as const;
