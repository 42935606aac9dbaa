import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeLog, failureExcerpt, lastErrorLine } from './log-excerpt.js';

// What Node 20 prints for an uncaught error thrown ten frames deep (a port that is NaN).
const NAN_PORT = `listening soon
node:net:2059
    validatePort(options.port, 'options.port');
    ^

RangeError [ERR_SOCKET_BAD_PORT]: options.port should be >= 0 and < 65536. Received type number (NaN).
    at Server.listen (node:net:2059:5)
    at level (file:///srv/app/server.mjs:2:61)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114)
    at level (file:///srv/app/server.mjs:2:114) {
  code: 'ERR_SOCKET_BAD_PORT'
}

Node.js v20.20.2`.split('\n');

describe('failureExcerpt', () => {
  it('a long stack: the error line (with where Node says it was thrown) comes before the last lines', () => {
    const e = failureExcerpt(NAN_PORT, 10);
    assert.deepEqual(e.error, [
      'node:net:2059',
      "    validatePort(options.port, 'options.port');",
      '    ^',
      'RangeError [ERR_SOCKET_BAD_PORT]: options.port should be >= 0 and < 65536. Received type number (NaN).',
      '    at Server.listen (node:net:2059:5)',
    ]);
    assert.deepEqual(e.tail, NAN_PORT.slice(-10));
    assert.equal(e.skipped, NAN_PORT.length - 10 - 7);
    // The last ten lines alone are stack frames and the error's properties: the cause is not among them.
    assert.ok(!NAN_PORT.slice(-10).some((l) => l.includes('NaN')));
  });

  it('when the error is among the last lines, just the last lines', () => {
    const short = ['starting', 'Error: cannot open database /nope', '    at main (file:///srv/app.mjs:1:7)', '', 'Node.js v20.20.2'];
    assert.deepEqual(failureExcerpt(short, 10), { error: [], skipped: 0, tail: short });
  });

  it('no error line: the last lines', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    assert.deepEqual(failureExcerpt(lines, 3), { error: [], skipped: 0, tail: ['line 27', 'line 28', 'line 29'] });
  });

  it("the headline of the last report, not an indented cause, nor an earlier logged error", () => {
    const lines = [
      'Error: retrying the database (logged, handled)',
      'file:///srv/app.mjs:1',
      "function f() { throw new Error('outer', { cause: new TypeError('inner') }); }",
      '                     ^',
      '',
      'Error: outer',
      '    at f (file:///srv/app.mjs:1:22)',
      '  [cause]: TypeError: inner',
      ...Array.from({ length: 12 }, () => '      at f (file:///srv/app.mjs:1:50)'),
      '}',
    ];
    const e = failureExcerpt(lines, 4);
    assert.equal(e.error[0], 'file:///srv/app.mjs:1');
    assert.equal(e.error[3], 'Error: outer');
    assert.equal(e.error[4], '    at f (file:///srv/app.mjs:1:22)');
  });

  it('error lines of other runtimes, and lines that only look alike', () => {
    for (const l of [
      'Error: boom',
      'TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string. Received undefined',
      'AssertionError [ERR_ASSERTION]: expected',
      'ValueError: invalid literal for int() with base 10: \'\'',
      'java.lang.IllegalStateException: port not set',
      'Exception in thread "main" java.lang.NumberFormatException: For input string: ""',
      'panic: listen tcp: address 127.0.0.1:x: invalid port',
      "thread 'main' panicked at src/main.rs:4:5:",
      'ZeroDivisionError',
    ]) {
      assert.equal(lastErrorLine(['x', l, 'y']), 1, l);
    }
    for (const l of ['  [cause]: TypeError: inner', 'ErrorHandler registered', 'no errors: all good', '{"level":50,"msg":"Error: x"}', '    at Error (native)']) {
      assert.equal(lastErrorLine([l]), -1, l);
    }
  });
});

describe('describeLog', () => {
  it('names the file and shows the error, a gap marker and the tail, indented', () => {
    const text = describeLog('/s/logs/web-0.app.log', NAN_PORT);
    assert.match(text, /^; the error and the last lines of \/s\/logs\/web-0\.app\.log:\n {2}node:net:2059\n/);
    assert.match(text, /\n {2}RangeError \[ERR_SOCKET_BAD_PORT\]: .*Received type number \(NaN\)\.\n {2} {4}at Server\.listen/);
    assert.match(text, /\n {2}\.\.\. \(3 more lines\)\n/);
    assert.match(text, /\n {2}Node\.js v20\.20\.2$/);
  });
  it('an empty log says so', () => {
    assert.equal(describeLog('/x.log', []), ' (log /x.log is empty)');
  });
  it('without an error line, the last lines as before', () => {
    assert.equal(describeLog('/x.log', ['a', 'b']), '; last lines of /x.log:\n  a\n  b');
  });
});
