import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRouteRegex, MAX_PROGRAM_SIZE, MAX_REGEX_LENGTH } from './route-regex.js';
import type { RouteRegex } from './route-regex.js';

function compiled(source: string): RouteRegex {
  const r = compileRouteRegex(source);
  if (!r.ok) assert.fail(`${source}: ${r.message}`);
  return r.regex;
}

function refusal(source: string): string {
  const r = compileRouteRegex(source);
  assert.equal(r.ok, false, `should refuse ${source.slice(0, 30)}`);
  return r.ok ? '' : r.message;
}

test('the attack pattern of issue 9 against a 400-character path completes, with the right answer', () => {
  const re = compiled('/.*.*.*.*x');
  assert.equal(re.test(`/${'a'.repeat(400)}`), false);
  assert.equal(re.test(`/${'a'.repeat(400)}x`), true);
  assert.equal(re.test(`/${'a'.repeat(100_000)}`), false, 'and a 100 KB one');
});

test('a match is a match of the whole value (Gateway API full match), case-sensitive', () => {
  const re = compiled('/v[0-9]+/items');
  assert.equal(re.test('/v2/items'), true);
  assert.equal(re.test('/v2/items/1'), false, 'anchored at the end');
  assert.equal(re.test('/x/v2/items'), false, 'anchored at the start');
  assert.equal(re.test('/V2/items'), false);
  assert.equal(compiled('a|b').test('ab'), false, 'alternation is inside the anchors');
  assert.equal(compiled('(?i)/api').test('/API'), true, 'RE2 flags work');
});

test('RE2 syntax: classes, named groups, Unicode and \\x{...} escapes compile', () => {
  for (const good of ['(?P<v>[0-9]+)', '(?<v>[0-9]+)', '[[:alpha:]]+', '\\pL+', '\\x{41}', 'a{2,3}', '(a+)+', '(a|aa)*', '((a*)b)+', '\\/api', '\\d\\w\\s']) {
    assert.ok(compileRouteRegex(good).ok, good);
  }
  assert.equal(compiled('\\pL+').test('héllo'), true);
  assert.equal(compiled('\\d+').test('٣'), false, 'RE2 \\d is ASCII');
});

test('what JavaScript accepts and RE2 refuses is refused with a message that says why', () => {
  assert.match(refusal('/(a)\\1'), /invalid regular expression \(RE2 syntax\): invalid escape sequence: `\\1` \(RE2 has no backreferences\)/);
  assert.match(refusal('(?<x>a)\\k<x>'), /no backreferences/);
  assert.match(refusal('/foo(?=bar)'), /`\(\?=`: RE2 has no lookaround assertions/);
  assert.match(refusal('(?<!x)y'), /`\(\?<!`: RE2 has no lookaround assertions \(lookahead or lookbehind\)/);
  assert.match(refusal('a++'), /possessive/);
  assert.match(refusal('\\u0041'), /\\x\{41\}/);
  assert.match(refusal('x{1001}'), /invalid repeat count/);
  assert.match(refusal('('), /missing closing \)/);
  assert.equal(refusal(''), 'empty regular expression');
});

test('limits: pattern length and RE2 program size', () => {
  assert.match(refusal('x'.repeat(MAX_REGEX_LENGTH + 1)), /longer than 1024/);
  assert.ok(compileRouteRegex('x'.repeat(MAX_PROGRAM_SIZE - 10)).ok);
  assert.match(refusal('(\\pL{100}){10}'), new RegExp(`at most ${MAX_PROGRAM_SIZE}`));
  assert.ok(compileRouteRegex('[a-z]{1,63}(\\.[a-z]{1,63}){0,3}').ok, 'a realistic bounded pattern fits');
});

test('the same source gives the same compiled regex (cache), and matching never throws on odd input', () => {
  const a = compiled('/cache/[0-9]+');
  assert.equal(compiled('/cache/[0-9]+'), a);
  for (const odd of ['', '\u0000', '\ud800', 'é'.repeat(1000), '\r\n']) assert.equal(typeof a.test(odd), 'boolean');
});
