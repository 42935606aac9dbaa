/**
 * The Prometheus text format as our proxies write it (src/telemetry/metrics.ts).
 *
 * prom-client only writes the text format, it has no parser; the parser here is small and
 * strict on purpose: it reads the lines our own proxies emit, not every dialect.
 */
export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

/** The two series golden metrics are made of: request counts and latency buckets. */
export const REQUESTS_METRIC = 'trellis_requests_total';
export const BUCKETS_METRIC = 'trellis_request_duration_seconds_bucket';
/** Opaque TCP relays per listener (no requests to count): connections opened and bytes (flow rx/tx). */
export const TCP_CONNECTIONS_METRIC = 'trellis_tcp_connections_opened_total';
export const TCP_BYTES_METRIC = 'trellis_tcp_bytes_total';

/** `name{a="x",b="y"} 12` or `name 12` per line; `#` lines and blank lines skipped. Throws on anything else. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    let rest: string;
    const labels: Labels = {};
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      let i = brace + 1;
      while (line[i] !== '}') {
        const eq = line.indexOf('="', i);
        if (eq === -1) throw new Error(`metrics line ${n + 1}: bad label in ${JSON.stringify(line)}`);
        const key = line.slice(i, eq);
        i = eq + 2;
        let value = '';
        for (;;) {
          const c = line[i];
          if (c === undefined) throw new Error(`metrics line ${n + 1}: unterminated label value`);
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i + 1];
            value += e === 'n' ? '\n' : (e ?? '');
            i += 2;
          } else {
            value += c;
            i++;
          }
        }
        labels[key] = value;
        i++; // closing quote
        if (line[i] === ',') i++;
        if (i >= line.length) throw new Error(`metrics line ${n + 1}: unterminated labels`);
      }
      rest = line.slice(i + 1).trim();
    } else {
      if (space === -1) throw new Error(`metrics line ${n + 1}: no value in ${JSON.stringify(line)}`);
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const valueText = rest.split(' ')[0] ?? '';
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    if (valueText === '' || (Number.isNaN(value) && valueText !== 'NaN')) throw new Error(`metrics line ${n + 1}: bad value ${JSON.stringify(valueText)}`);
    samples.push({ name, labels, value });
  }
  return samples;
}
