/**
 * Regression corpus for path normalization: paths that bypassed routes in this mesh or in
 * others (CVE-2019-9901, CVE-2021-31920 and relatives), edge cases of RFC 3986 §5.2.4, and any
 * case the fuzz tests find (add it here, named). `expect` is the normalized path, or the code
 * of the refusal.
 */
import type { PathRefusalCode } from './path.js';

export interface PathCase {
  name: string;
  path: string;
  expect: string | { refused: PathRefusalCode };
}

const refused = (code: PathRefusalCode): { refused: PathRefusalCode } => ({ refused: code });

export const PATH_CORPUS: readonly PathCase[] = [
  // The six escapes of issue 9 (each reached a default backend past a PathPrefix /admin route).
  { name: 'issue9-double-slash', path: '//admin', expect: '/admin' },
  { name: 'issue9-encoded-slash', path: '/%2Fadmin', expect: refused('encoded-slash') },
  { name: 'issue9-dotdot', path: '/a/../admin', expect: '/admin' },
  { name: 'issue9-dot', path: '/./admin', expect: '/admin' },
  { name: 'issue9-encoded-dotdot', path: '/%2e%2e/admin', expect: '/admin' },
  { name: 'issue9-encoded-letter', path: '/%61dmin', expect: '/admin' },
  // CVE-2021-31920: escaped slashes and backslashes, either case.
  { name: 'cve-2021-31920-lower', path: '/public%2f..%2fadmin', expect: refused('encoded-slash') },
  { name: 'cve-2021-31920-backslash', path: '/public%5C..%5Cadmin', expect: refused('encoded-backslash') },
  { name: 'cve-2021-31920-backslash-lower', path: '/public%5c..%5cadmin', expect: refused('encoded-backslash') },
  { name: 'raw-backslash', path: '/public\\..\\admin', expect: refused('backslash') },
  // CVE-2019-9901: dot-segments and slashes unresolved before routing.
  { name: 'cve-2019-9901-dotdot', path: '/public/../admin/users', expect: '/admin/users' },
  { name: 'dotdot-above-root', path: '/../../admin', expect: '/admin' },
  { name: 'mixed-case-encoded-dots', path: '/x/%2E%2e/admin', expect: '/admin' },
  { name: 'half-encoded-dots', path: '/x/.%2e/admin', expect: '/admin' },
  { name: 'half-encoded-dots-2', path: '/x/%2e./admin', expect: '/admin' },
  { name: 'dotdot-after-empty-segment', path: '/a//../admin', expect: '/a/admin' },
  { name: 'triple-dot-is-a-name', path: '/.../admin', expect: '/.../admin' },
  { name: 'no-double-decode', path: '/%252e%252e/admin', expect: '/%252e%252e/admin' },
  { name: 'encoded-percent-then-hex', path: '/%2561dmin', expect: '/%2561dmin' },
  // Encoded control characters: C-string truncation, header and log splitting.
  { name: 'encoded-nul', path: '/admin%00.html', expect: refused('encoded-control') },
  { name: 'encoded-crlf', path: '/a%0d%0aset-cookie:x', expect: refused('encoded-control') },
  { name: 'encoded-del', path: '/a%7F', expect: refused('encoded-control') },
  // Raw bytes an HTTP/2 :path could carry (the HTTP/1 parser refuses them itself).
  { name: 'raw-nul', path: '/admin\x00', expect: refused('bad-character') },
  { name: 'raw-tab', path: '/ad\tmin', expect: refused('bad-character') },
  { name: 'raw-space', path: '/ad min', expect: refused('bad-character') },
  { name: 'raw-non-ascii', path: '/caf\u00e9', expect: refused('bad-character') },
  { name: 'lone-surrogate', path: '/\ud800', expect: refused('bad-character') },
  { name: 'fragment', path: '/admin#x', expect: refused('bad-character') },
  // Malformed escapes.
  { name: 'bad-escape-letters', path: '/%zz', expect: refused('bad-escape') },
  { name: 'bad-escape-truncated', path: '/%4', expect: refused('bad-escape') },
  { name: 'bad-escape-bare', path: '/%', expect: refused('bad-escape') },
  { name: 'bad-escape-non-ascii-digit', path: '/%\u0664\u0661', expect: refused('bad-escape') },
  // Forms that are not a path.
  { name: 'empty', path: '', expect: refused('not-origin-form') },
  { name: 'asterisk', path: '*', expect: refused('not-origin-form') },
  { name: 'absolute-form', path: 'http://h/admin', expect: refused('not-origin-form') },
  // Spelling: WHATWG encodes these in a path, so the result is what new URL() gives back.
  { name: 'whatwg-encoded-set', path: '/a"<>`{}b', expect: '/a%22%3C%3E%60%7B%7Db' },
  { name: 'lower-case-hex', path: '/caf%c3%a9', expect: '/caf%C3%A9' },
  { name: 'trailing-slash-kept', path: '/admin/', expect: '/admin/' },
  { name: 'trailing-dot', path: '/admin/.', expect: '/admin/' },
  { name: 'trailing-dotdot', path: '/admin/x/..', expect: '/admin/' },
];
