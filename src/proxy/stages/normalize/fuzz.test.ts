import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hit, http, table, to } from '../../routing/test-helpers.js';
import { PATH_CORPUS } from './fuzz-corpus.js';
import { isPathRefusal, normalizePath } from './path.js';

const SEED = 20261125;

/** Pieces that make paths interesting: separators, dots, escapes of every kind, names. */
const PIECES = [
  '/', '/', '/', '//', '.', '..', '...', '%2e', '%2E', '%2e%2e', '.%2e', '%2E.',
  'a', 'b', 'admin', 'api', '%61', '%41dmin', '%7e', '%7E', '%2d', '%5f', '%30',
  '%25', '%252e', '%3f', '%3F', '%23', '%20', '%c3%a9', '%C3%A9', '%ff',
  '~', '-', '_', ':', '@', '!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=',
  '^', '|', '[', ']', '"', '<', '>', '`', '{', '}',
];
/** Pieces that must be refused wherever they appear. */
const HOSTILE = ['%2f', '%2F', '%5c', '%5C', '\\', '%00', '%0a', '%7f', '%zz', '%4', '%', ' ', '\t', '\0', '\x7f', 'é', '#', '?', '\ud800'];

const piece = fc.constantFrom(...PIECES);
/** Paths without hostile pieces: mostly accepted. */
const pathArb = fc.array(piece, { maxLength: 14 }).map((a) => '/' + a.join(''));
/** Any mix, hostile pieces included, sometimes without the leading slash. */
const anyPathArb = fc.tuple(fc.boolean(), fc.array(fc.oneof(piece, fc.constantFrom(...HOSTILE)), { maxLength: 14 }))
  .map(([slash, a]) => (slash ? '/' : '') + a.join(''));

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** What WHATWG URL resolution makes of a raw path (the way apps call it: the path after the origin). */
function whatwg(p: string): string {
  return new URL('http://h' + p).pathname;
}

/**
 * The normalizer's spelling steps applied to a WHATWG pathname: decode unreserved escapes,
 * upper-case the others, merge slashes. WHATWG already removed dot-segments (including
 * `%2e` forms) and encoded what it encodes; it does neither of these three.
 */
function canonical(w: string): string {
  return w
    .replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => {
      const ch = String.fromCharCode(parseInt(h, 16));
      return UNRESERVED.test(ch) ? ch : '%' + h.toUpperCase();
    })
    .replace(/\/{2,}/g, '/');
}

function accepted(p: string): string | null {
  const r = normalizePath(p);
  return isPathRefusal(r) ? null : r;
}

describe('fuzz: normalizePath', () => {
  it('(a) is idempotent, and a normal path comes back unchanged', () => {
    fc.assert(fc.property(fc.oneof(pathArb, anyPathArb), (p) => {
      const n = accepted(p);
      if (n === null) return;
      assert.equal(normalizePath(n), n);
    }), { seed: SEED, numRuns: 5000 });
  });

  it('(b) never leaves //, a dot-segment, an escaped unreserved character, lower-case hex or a refused character', () => {
    fc.assert(fc.property(fc.oneof(pathArb, anyPathArb), (p) => {
      const n = accepted(p);
      if (n === null) return;
      assert.ok(n.startsWith('/'), n);
      assert.ok(!n.includes('//'), n);
      assert.ok(!n.includes('/./') && !n.includes('/../'), n);
      assert.ok(!n.endsWith('/.') && !n.endsWith('/..'), n);
      for (const m of n.matchAll(/%(..)/g)) {
        const h = m[1]!;
        assert.match(h, /^[0-9A-F]{2}$/, n);
        assert.ok(!UNRESERVED.test(String.fromCharCode(parseInt(h, 16))), n);
        assert.ok(!['2F', '5C'].includes(h) && parseInt(h, 16) >= 0x20 && parseInt(h, 16) !== 0x7f, n);
      }
      assert.doesNotMatch(n, /[\0-\x20\x7f-\uffff\\#?"<>`{}]/, n);
    }), { seed: SEED, numRuns: 5000 });
  });

  it('(c) agrees with WHATWG URL resolution', () => {
    const routes = table([http('r', [
      to('admin', { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }] }),
      to('a', { matches: [{ path: { type: 'PathPrefix', value: '/a' } }] }),
      to('api', { matches: [{ path: { type: 'Exact', value: '/api/' } }] }),
      to('default', { matches: [{ path: { type: 'PathPrefix', value: '/' } }] }),
    ])]);
    let sameAsRaw = 0;
    fc.assert(fc.property(pathArb, (p) => {
      const n = accepted(p);
      if (n === null) return;
      // An app that resolves the forwarded path gets exactly the forwarded path, so it serves
      // what routing saw.
      assert.equal(whatwg(n), n, `forwarded ${n}`);
      // The normalized path is WHATWG's resolution of the raw path, respelled: WHATWG does
      // not decode %61 or merge slashes, so that is the only difference there can be.
      const w = whatwg(p);
      assert.equal(n, canonical(w), `raw ${p}: WHATWG ${w}`);
      // Hence: wherever WHATWG's resolution has nothing to respell, the raw path routes (by
      // prefix or exactly) as the normalized one. Where it has (e.g. /%61dmin, //admin),
      // routing the raw path would be wrong, which is why the normalized one is forwarded.
      if (canonical(w) === w) {
        sameAsRaw++;
        assert.equal(n, w);
        assert.equal(hit(routes, 'GET', n), hit(routes, 'GET', w), p);
      }
    }), { seed: SEED, numRuns: 5000 });
    assert.ok(sameAsRaw > 100, `only ${sameAsRaw} runs compared routing`);
  });

  it('(d) never throws, on any string', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }).map((s) => '/' + s), anyPathArb), (s) => {
      const r = normalizePath(s);
      assert.ok(typeof r === 'string' || isPathRefusal(r));
    }), { seed: SEED, numRuns: 5000 });
  });

  it('hostile pieces are refused wherever they are', () => {
    fc.assert(fc.property(pathArb, fc.constantFrom(...HOSTILE), pathArb, (a, h, b) => {
      assert.ok(isPathRefusal(normalizePath(a + h + b)), a + h + b);
    }), { seed: SEED, numRuns: 2000 });
  });

  it('the corpus agrees with WHATWG where a case is accepted', () => {
    for (const c of PATH_CORPUS) {
      if (typeof c.expect !== 'string') continue;
      assert.equal(whatwg(c.expect), c.expect, c.name);
      assert.equal(canonical(whatwg(c.path)), c.expect, c.name);
    }
  });
});
