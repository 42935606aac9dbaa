import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hit, http, table, to } from '../../routing/test-helpers.js';
import { PATH_CORPUS } from './fuzz-corpus.js';
import { isPathRefusal, normalizeOriginTarget, normalizePath, PathRefused } from './path.js';
import type { PathRefusal, PathRefusalCode } from './path.js';

function norm(p: string): string {
  const r = normalizePath(p);
  assert.equal(typeof r, 'string', `${JSON.stringify(p)} refused: ${JSON.stringify(r)}`);
  return r as string;
}

function refusedAs(p: string, code: PathRefusalCode): void {
  const r = normalizePath(p);
  assert.ok(isPathRefusal(r), `${JSON.stringify(p)} accepted as ${JSON.stringify(r)}`);
  assert.equal(r.code, code, JSON.stringify(p));
}

describe('normalizePath: the bypasses of issue 9', () => {
  // PathPrefix /admin goes to `admin`, everything else to `default`, as in the report.
  const routes = table([http('r', [
    to('admin', { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }] }),
    to('default', { matches: [{ path: { type: 'PathPrefix', value: '/' } }] }),
  ])]);

  it('each escape routed raw reaches the default backend; normalized, it is /admin or refused', () => {
    for (const p of ['//admin', '/a/../admin', '/./admin', '/%2e%2e/admin', '/%61dmin']) {
      assert.equal(hit(routes, 'GET', p), 'default', `raw ${p} (the bug)`);
      assert.equal(norm(p), '/admin', p);
      assert.equal(hit(routes, 'GET', norm(p)), 'admin', p);
    }
    assert.equal(hit(routes, 'GET', '/%2Fadmin'), 'default');
    refusedAs('/%2Fadmin', 'encoded-slash');
  });

  it('what an app resolving the forwarded path with new URL() sees is what routing saw', () => {
    for (const p of ['//admin', '/a/../admin', '/./admin', '/%2e%2e/admin', '/%61dmin', '/x/%2E./admin/']) {
      const forwarded = norm(p);
      const appSees = new URL(forwarded, 'http://h').pathname;
      assert.equal(appSees, forwarded, p);
      assert.equal(hit(routes, 'GET', appSees), hit(routes, 'GET', forwarded), p);
    }
  });
});

describe('normalizePath: unchanged paths', () => {
  it('returns the same string, for every character a path may keep', () => {
    for (const p of [
      '/', '/api/v1/users/123', '/a/b/', '/a-b_c~d.e', '/%C3%A9', '/a:b@c', "/!$&'()*+,;=", '/^|[]',
      '/...', '/a./.b/..c/c..', '/%25', '/%252e', '/catalog.v1.Catalog/ListProducts', '/%3F%23%20',
    ]) {
      assert.equal(normalizePath(p), p, p);
    }
  });
});

describe('normalizePath: refusals', () => {
  it('a path not starting with "/"', () => {
    for (const p of ['', '*', 'a/b', 'http://h/a', '?x', '%2F']) refusedAs(p, 'not-origin-form');
  });

  it('an encoded slash or backslash, either case', () => {
    for (const p of ['/%2F', '/%2f', '/a%2Fb', '/..%2F..']) refusedAs(p, 'encoded-slash');
    for (const p of ['/%5C', '/%5c', '/a%5cb']) refusedAs(p, 'encoded-backslash');
  });

  it('every encoded control character and DEL', () => {
    for (let v = 0; v < 0x20; v++) {
      const hex = v.toString(16).padStart(2, '0');
      refusedAs(`/a%${hex}`, 'encoded-control');
      refusedAs(`/a%${hex.toUpperCase()}`, 'encoded-control');
    }
    refusedAs('/%7f', 'encoded-control');
    refusedAs('/%7F', 'encoded-control');
  });

  it('a raw backslash', () => {
    refusedAs('/\\', 'backslash');
    refusedAs('/a\\..\\admin', 'backslash');
  });

  it('an invalid percent-escape', () => {
    for (const p of ['/%', '/%4', '/a%4', '/%zz', '/%g0', '/%0g', '/%%41', '/%-1', '/% 1']) refusedAs(p, 'bad-escape');
  });

  it('control characters, space, DEL, non-ASCII, "#" and "?" (what the HTTP/1 parser refuses, for HTTP/2)', () => {
    for (let c = 0; c < 0x20; c++) refusedAs(`/a${String.fromCharCode(c)}b`, 'bad-character');
    for (const p of ['/a b', '/a\x7f', '/caf\u00e9', '/\u00ff', '/\u2028', '/\ud83d\ude00', '/\ud800', '/a#b', '/a?b']) {
      refusedAs(p, 'bad-character');
    }
  });

  it('the first problem decides, whatever follows', () => {
    refusedAs('/%2F/\\', 'encoded-slash');
    refusedAs('/\\/%2F', 'backslash');
    refusedAs('//../%zz', 'bad-escape');
  });

  it('refusals are shared frozen constants (nothing allocated per refusal)', () => {
    const a = normalizePath('/%2F');
    const b = normalizePath('/x/%2f');
    assert.equal(a, b);
    assert.equal(a, PathRefused.EncodedSlash);
    for (const r of Object.values(PathRefused) as PathRefusal[]) {
      assert.ok(Object.isFrozen(r));
      assert.ok(r.message.length > 0);
    }
    assert.ok(Object.isFrozen(PathRefused));
  });
});

describe('normalizePath: steps', () => {
  it('decodes escapes of unreserved characters, in either case', () => {
    assert.equal(norm('/%61dmin'), '/admin');
    assert.equal(norm('/%41%5a%30%39'), '/AZ09');
    assert.equal(norm('/%7E%7e%2D%5F%2E'), '/~~-_.');
  });

  it('upper-cases the hex digits of escapes that stay, decoding nothing twice', () => {
    assert.equal(norm('/caf%c3%a9'), '/caf%C3%A9');
    assert.equal(norm('/%3f%aB'), '/%3F%AB');
    assert.equal(norm('/%252e%252E'), '/%252e%252E');
    assert.equal(norm('/%2561'), '/%2561');
  });

  it('encodes what WHATWG encodes in a path', () => {
    assert.equal(norm('/a"b'), '/a%22b');
    assert.equal(norm('/<>`{}'), '/%3C%3E%60%7B%7D');
  });

  it('merges repeated slashes, keeping a trailing one', () => {
    assert.equal(norm('//a'), '/a');
    assert.equal(norm('/a//b///c'), '/a/b/c');
    assert.equal(norm('///'), '/');
    assert.equal(norm('/a//'), '/a/');
  });

  it('removes dot-segments (RFC 3986 §5.2.4); ".." above the root stays at the root', () => {
    const cases: [string, string][] = [
      ['/./a', '/a'], ['/a/./b', '/a/b'], ['/a/../b', '/b'], ['/../a', '/a'], ['/../../', '/'],
      ['/a/b/..', '/a/'], ['/a/.', '/a/'], ['/.', '/'], ['/..', '/'], ['/a/b/../../..', '/'],
      ['/a/..b', '/a/..b'], ['/a/.b', '/a/.b'], ['/%2e', '/'], ['/%2E%2e/admin', '/admin'],
      ['/.%2e/admin', '/admin'], ['/a/b/c/./../../g', '/a/g'], ['/mid/content=5/../6', '/mid/6'],
    ];
    for (const [p, want] of cases) assert.equal(norm(p), want, p);
  });

  it('removes dot-segments before merging slashes, as WHATWG and Envoy do', () => {
    // ".." after "//" removes the empty segment: what new URL() resolves the raw path to.
    assert.equal(norm('/a//../b'), '/a/b');
    assert.equal(new URL('/a//../b', 'http://h').pathname, '/a/b');
    assert.equal(norm('/a/.//b'), '/a/b');
  });

  it('keeps a trailing slash', () => {
    assert.equal(norm('/admin/'), '/admin/');
    assert.equal(norm('/admin/./'), '/admin/');
    assert.equal(norm('/admin/x/../'), '/admin/');
  });
});

describe('normalizeOriginTarget', () => {
  it('normalizes the path and keeps the query as it came', () => {
    const t = '/a/b?x=1';
    assert.equal(normalizeOriginTarget(t), t);
    assert.equal(normalizeOriginTarget('/a/../b?x=%2F&y=/../'), '/b?x=%2F&y=/../');
    assert.equal(normalizeOriginTarget('/a//b?'), '/a/b?');
    assert.equal(normalizeOriginTarget('/%61'), '/a');
    assert.equal(normalizeOriginTarget('/%2F?x'), PathRefused.EncodedSlash);
    assert.equal(normalizeOriginTarget('?x'), PathRefused.NotOriginForm);
    assert.equal(normalizeOriginTarget('/a#b?c'), PathRefused.BadCharacter);
  });
});

describe('normalizePath: regression corpus', () => {
  it('every named case', () => {
    for (const c of PATH_CORPUS) {
      const r = normalizePath(c.path);
      if (typeof c.expect === 'string') assert.equal(r, c.expect, c.name);
      else {
        assert.ok(isPathRefusal(r), `${c.name}: accepted as ${JSON.stringify(r)}`);
        assert.equal(r.code, c.expect.refused, c.name);
      }
    }
  });
});
