import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter } from './ndjson.js';

test('lines split across many chunks, several lines in one chunk, blank lines and padding', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  const big = JSON.stringify({ type: 'snapshot', data: 'x'.repeat(50_000) });
  const text = `{"type":"ping"}\n\n  {"a":1}  \n${big}\n{"b":2}\n{"c":`;
  for (let i = 0; i < text.length; i += 997) assert.equal(s.push(text.slice(i, i + 997)), true);
  assert.deepEqual(lines, ['{"type":"ping"}', '{"a":1}', big, '{"b":2}']);
  s.push('3}\n');
  assert.equal(lines.at(-1), '{"c":3}');
  // One chunk holding a whole line and the start of the next.
  s.push('{"d":4}\n{"e"');
  s.push(':5}\n');
  assert.deepEqual(lines.slice(-2), ['{"d":4}', '{"e":5}']);
});

test('a partial line past maxLine is reported (the stream is to be closed); a complete one is not', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l), 10);
  assert.equal(s.push('0123456789abc\n'), true, 'complete lines of any length are delivered');
  assert.equal(lines[0], '0123456789abc');
  assert.equal(s.push('01234'), true);
  assert.equal(s.push('56789a'), false, '11 characters without a newline');
});
