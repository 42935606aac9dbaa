import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { admitToCgroup, confinedArgv, type CgroupWriter } from './egress-lock.js';

/** Starts `node -e` the way the agent starts a confined app; resolves to its output and exit code. */
function run(write: CgroupWriter, procs: string): Promise<{ out: string; code: number | null; pid: number | undefined; errors: string[] }> {
  const argv = confinedArgv([process.execPath, '-e', 'process.stdout.write(String(process.pid))']);
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  const errors: string[] = [];
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  admitToCgroup(child, procs, (err) => errors.push(err.message), write);
  return new Promise((resolve) => child.on('close', (code) => resolve({ out, code, pid: child.pid, errors })));
}

// The cgroup move is the agent's (root's) job before the app execs, so an app running as its
// own user is confined without writing cgroup.procs itself. A plain file stands in for
// cgroup.procs here; test/integration/egress-lock.test.ts does it with a real cgroup as nobody.
describe('confinedArgv + admitToCgroup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-confine-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the app runs only after its pid was written, and with that same pid (exec, no fork)', async () => {
    const procs = join(dir, 'cgroup.procs');
    const seen: number[] = [];
    const r = await run((file, pid) => {
      seen.push(pid);
      writeFileSync(file, `${pid}\n`);
    }, procs);
    assert.equal(r.code, 0);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(seen, [r.pid]);
    assert.equal(readFileSync(procs, 'utf8'), `${r.pid}\n`);
    assert.equal(r.out, String(r.pid), 'the app is the process that was moved');
  });

  test('when the move fails the app never runs', async () => {
    const r = await run(() => {
      throw new Error('EACCES: permission denied');
    }, join(dir, 'nope'));
    assert.equal(r.out, '', 'the app printed nothing: it was never exec\'d');
    assert.notEqual(r.code, 0);
    assert.deepEqual(r.errors, ['EACCES: permission denied']);
  });
});
