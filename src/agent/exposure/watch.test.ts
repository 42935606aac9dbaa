import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { systemClock } from '../../util/clock.js';
import type { Exposure } from './exposure.js';
import type { NftRunner } from './nft-lock.js';
import { ExposureWatch, type WatchedApp } from './watch.js';

class FakeApp implements WatchedApp {
  exposed: Exposure[] = [];
  constructor(public pid: number | null) {}
  appPid(): number | null {
    return this.pid;
  }
  setExposed(found: Exposure[]): boolean {
    const changed = JSON.stringify(found) !== JSON.stringify(this.exposed);
    this.exposed = found;
    return changed;
  }
}

function recordingNft(code = 0): { run: NftRunner; scripts: string[] } {
  const scripts: string[] = [];
  return {
    scripts,
    run: (args, stdin) => {
      if (args[0] === '-f') scripts.push(stdin ?? '');
      return Promise.resolve({ code, stdout: '', stderr: code === 0 ? '' : 'Operation not permitted' });
    },
  };
}

const base = { stateDir: '/tmp/x', clock: systemClock, logger: pino({ level: 'silent' }), platform: 'linux' };

test('a scan stores each app\'s exposures and reports once per change; a stopped app has none', async () => {
  const app = new FakeApp(42);
  let changes = 0;
  const found: Record<number, Exposure[]> = { 42: [{ address: '0.0.0.0:8080', port: 8080 }] };
  const nft = recordingNft();
  const w = new ExposureWatch({ ...base, apps: () => [app], lockRequested: false, appPorts: [], onChange: () => changes++, scan: (pid) => Promise.resolve(found[pid] ?? []), nft: nft.run, uid: 1000 });
  await w.scanOnce();
  assert.deepEqual(app.exposed, found[42]);
  assert.equal(changes, 1);
  await w.scanOnce();
  assert.equal(changes, 1, 'nothing changed');
  // not asked for, and not root: the report says why the lock could not close it
  assert.deepEqual(w.report(), { requested: false, lockedPorts: [], unavailable: 'the agent is not running as root' });
  assert.deepEqual(nft.scripts, []);
  app.pid = null;
  await w.scanOnce();
  assert.deepEqual(app.exposed, []);
  assert.equal(changes, 2);
});

test('lockAppPorts: the handed-out ports are locked before apps start, found ports are added, stop removes the table', async () => {
  const app = new FakeApp(42);
  const nft = recordingNft();
  const w = new ExposureWatch({ ...base, apps: () => [app], lockRequested: true, appPorts: [7001, 7002], onChange: () => {}, scan: () => Promise.resolve([{ address: '[::]:8080', port: 8080 }]), nft: nft.run, uid: 0 });
  await w.prepare();
  assert.deepEqual(w.report(), { requested: true, lockedPorts: [7001, 7002] });
  await w.scanOnce();
  assert.deepEqual(w.report().lockedPorts, [7001, 7002, 8080]);
  assert.match(nft.scripts.at(-1) ?? '', /tcp dport \{ 7001, 7002, 8080 \} drop/);
  await w.stop();
  assert.doesNotMatch(nft.scripts.at(-1) ?? '', /chain input/);
  assert.deepEqual(w.report().lockedPorts, []);
});

test('without lockAppPorts, a table left by an earlier run of this state directory is removed at start (root only)', async () => {
  const nft = recordingNft();
  const asRoot = new ExposureWatch({ ...base, apps: () => [], lockRequested: false, appPorts: [7001], onChange: () => {}, scan: () => Promise.resolve([]), nft: nft.run, uid: 0 });
  await asRoot.prepare();
  assert.equal(nft.scripts.length, 1);
  assert.doesNotMatch(nft.scripts[0] ?? '', /chain input/);
  const asUser = new ExposureWatch({ ...base, apps: () => [], lockRequested: false, appPorts: [7001], onChange: () => {}, scan: () => Promise.resolve([]), nft: nft.run, uid: 1000 });
  await asUser.prepare();
  assert.equal(nft.scripts.length, 1, 'no nft as an ordinary user');
});

test('lockAppPorts where the host refuses: nothing locked, the reason reported', async () => {
  const nft = recordingNft(1);
  const w = new ExposureWatch({ ...base, apps: () => [], lockRequested: true, appPorts: [7001], onChange: () => {}, scan: () => Promise.resolve([]), nft: nft.run, uid: 0 });
  await w.prepare();
  assert.deepEqual(w.report(), { requested: true, lockedPorts: [], unavailable: 'nft cannot read the ruleset: Operation not permitted' });
  await w.stop();
});
