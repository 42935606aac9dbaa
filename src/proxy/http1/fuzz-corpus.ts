/**
 * Regression corpus for the HTTP/1 codec: heads that once broke a parser here or elsewhere
 * (known smuggling vectors), and any crash case the fuzz tests find (add it here, named).
 * `expect` is the status the request parser must give: 0 = accepted.
 */
export interface CorpusCase {
  name: string;
  head: string;
  expect: number;
}

export const REQUEST_CORPUS: readonly CorpusCase[] = [
  { name: 'cl-te', head: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n', expect: 400 },
  { name: 'te-cl', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n', expect: 400 },
  { name: 'te-space-before-colon', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n', expect: 400 },
  { name: 'te-obs-fold', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n', expect: 400 },
  { name: 'te-vertical-tab', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n', expect: 400 },
  { name: 'te-xchunked', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', expect: 501 },
  { name: 'te-chunked-dup', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', expect: 400 },
  { name: 'te-identity', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n', expect: 501 },
  { name: 'te-quoted', head: 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n', expect: 400 },
  { name: 'cl-double', head: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', expect: 400 },
  { name: 'cl-plus', head: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n', expect: 400 },
  { name: 'cl-huge', head: 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551617\r\n\r\n', expect: 400 },
  { name: 'cl-underscore', head: 'POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n', expect: 0 },
  { name: 'bare-lf-line', head: 'GET / HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\r\n', expect: 400 },
  { name: 'bare-cr-line', head: 'GET / HTTP/1.1\r\nHost: a\rContent-Length: 5\r\n\r\n', expect: 400 },
  { name: 'nul-in-value', head: 'GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n', expect: 400 },
  { name: 'host-double', head: 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', expect: 400 },
  { name: 'host-missing', head: 'GET / HTTP/1.1\r\nX: a\r\n\r\n', expect: 400 },
  { name: 'method-lowercase-ok', head: 'get / HTTP/1.1\r\nHost: a\r\n\r\n', expect: 0 },
  { name: 'version-http09', head: 'GET /\r\n\r\n', expect: 400 },
  { name: 'target-space', head: 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', expect: 400 },
  { name: 'header-name-nonascii', head: 'GET / HTTP/1.1\r\nHost: a\r\nX\xff: b\r\n\r\n', expect: 400 },
  { name: 'empty-line-then-fold', head: 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', expect: 400 },
  { name: 'colon-first', head: 'GET / HTTP/1.1\r\nHost: a\r\n:x\r\n\r\n', expect: 400 },
  { name: 'target-nul', head: 'GET /admin\x00.html HTTP/1.1\r\nHost: a\r\n\r\n', expect: 400 },
  { name: 'target-del', head: 'GET /admin\x7f HTTP/1.1\r\nHost: a\r\n\r\n', expect: 400 },
  { name: 'request-line-100k', head: 'GET /' + 'a'.repeat(100 * 1024) + ' HTTP/1.1\r\nHost: a\r\n\r\n', expect: 414 },
  { name: 'request-line-unterminated-9k', head: 'GET /' + 'a'.repeat(9 * 1024), expect: 414 },
  { name: 'connection-cl', head: 'POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\nContent-Length: 1\r\n\r\n', expect: 0 },
];
