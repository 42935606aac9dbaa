import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePrometheusText } from './parse.js';

describe('parsePrometheusText', () => {
  it('reads names, labels (with escapes and empty values) and values; skips comments', () => {
    const text = [
      '# HELP trellis_requests_total Requests',
      '# TYPE trellis_requests_total counter',
      'trellis_requests_total{direction="inbound",route="",path="a\\"b\\\\c\\nd"} 12',
      'trellis_request_duration_seconds_bucket{le="+Inf"} 3',
      'process_uptime 1.5e2',
      '',
    ].join('\n');
    assert.deepEqual(parsePrometheusText(text), [
      { name: 'trellis_requests_total', labels: { direction: 'inbound', route: '', path: 'a"b\\c\nd' }, value: 12 },
      { name: 'trellis_request_duration_seconds_bucket', labels: { le: '+Inf' }, value: 3 },
      { name: 'process_uptime', labels: {}, value: 150 },
    ]);
  });

  it('rejects lines it does not understand', () => {
    assert.throws(() => parsePrometheusText('x{a="1"'), /line 1/);
    assert.throws(() => parsePrometheusText('x{a="1"} abc'), /bad value/);
    assert.throws(() => parsePrometheusText('novalue'), /no value/);
  });
});
