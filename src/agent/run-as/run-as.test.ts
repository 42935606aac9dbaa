import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAppEnv } from '../env.js';
import { TrellisError } from '../../errors.js';
import type { WorkloadConfig } from '../../config/types.js';
import { AppUsers, DEFAULT_APP_USER, allowed, parsePasswdLine, unreachable, type Account, type Accounts } from './index.js';

/** A user database in memory: what getent would answer, and useradd's effect. */
class TableAccounts implements Accounts {
  created: string[] = [];
  failCreate: string | null = null;
  constructor(
    private readonly users: Account[],
    private readonly groups: Record<string, number> = {},
  ) {}
  user(key: string): Promise<Account | null> {
    return Promise.resolve(this.users.find((u) => u.name === key || String(u.uid) === key) ?? null);
  }
  group(key: string): Promise<number | null> {
    return Promise.resolve(this.groups[key] ?? (/^\d+$/.test(key) ? Number(key) : null));
  }
  createSystemUser(name: string): Promise<void> {
    if (this.failCreate !== null) return Promise.reject(new Error(this.failCreate));
    this.created.push(name);
    this.users.push({ name, uid: 996, gid: 996, home: '/nonexistent' });
    return Promise.resolve();
  }
}

const root: Account = { name: 'root', uid: 0, gid: 0, home: '/root' };
const alice: Account = { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice' };

describe('allowed: the kernel rule owner > group > other', () => {
  it('the owner bits decide for the owner, even when other bits allow', () => {
    assert.equal(allowed(0o007, 5, 5, { uid: 5, gid: 9 }, 'read'), false);
    assert.equal(allowed(0o400, 5, 5, { uid: 5, gid: 9 }, 'read'), true);
  });
  it('the group bits decide for the group', () => {
    assert.equal(allowed(0o034, 1, 7, { uid: 5, gid: 7 }, 'read'), false);
    assert.equal(allowed(0o040, 1, 7, { uid: 5, gid: 7 }, 'read'), true);
    assert.equal(allowed(0o010, 1, 7, { uid: 5, gid: 7 }, 'search'), true);
  });
  it('others get the other bits', () => {
    assert.equal(allowed(0o770, 1, 1, { uid: 5, gid: 5 }, 'search'), false);
    assert.equal(allowed(0o701, 1, 1, { uid: 5, gid: 5 }, 'search'), true);
  });
  it('root passes everything but needs some x bit to run a file', () => {
    assert.equal(allowed(0o000, 1, 1, { uid: 0, gid: 0 }, 'read'), true);
    assert.equal(allowed(0o644, 1, 1, { uid: 0, gid: 0 }, 'exec'), false);
    assert.equal(allowed(0o744, 1, 1, { uid: 0, gid: 0 }, 'exec'), true);
  });
});

describe('unreachable: a path another user cannot pass', () => {
  let dir: string;
  const nobody = { uid: 65534, gid: 65534 };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-runas-'));
    await mkdir(join(dir, 'open', 'app'), { recursive: true });
    await mkdir(join(dir, 'closed', 'app'), { recursive: true });
    await writeFile(join(dir, 'open', 'app', 'run.sh'), '#!/bin/sh\n');
    await chmod(join(dir, 'open', 'app', 'run.sh'), 0o755);
    await writeFile(join(dir, 'open', 'app', 'data.txt'), 'x');
    await chmod(join(dir, 'open', 'app', 'data.txt'), 0o644);
    await chmod(dir, 0o755);
    await chmod(join(dir, 'open'), 0o755);
    await chmod(join(dir, 'open', 'app'), 0o755);
    await chmod(join(dir, 'closed'), 0o700);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('an open folder and an executable are reachable', async () => {
    assert.equal(await unreachable(join(dir, 'open', 'app'), nobody, 'enter'), null);
    assert.equal(await unreachable(join(dir, 'open', 'app', 'run.sh'), nobody, 'run'), null);
  });
  it('names the first folder on the way that is closed, with its mode', async () => {
    const why = await unreachable(join(dir, 'closed', 'app'), nobody, 'enter');
    assert.equal(why, `${join(dir, 'closed')} (mode 0700, owner ${process.getuid?.() ?? 0}) cannot be entered`);
  });
  it('a file without an x bit cannot be run', async () => {
    assert.match((await unreachable(join(dir, 'open', 'app', 'data.txt'), nobody, 'run')) ?? '', /data\.txt \(mode 0644.*cannot be run/);
  });
  it('a missing path says so', async () => {
    assert.match((await unreachable(join(dir, 'nope', 'x'), nobody, 'run')) ?? '', /nope does not exist/);
  });
});

describe('AppUsers: who runs each app', () => {
  let dir: string;
  let closed: string;
  const program = process.execPath;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-runas-'));
    await chmod(dir, 0o755);
    closed = join(dir, 'closed');
    await mkdir(closed, { mode: 0o700 });
    await chmod(closed, 0o700);
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const app = (over: Partial<{ user: string | null; group: string | null; cwd: string }> = {}) => ({ workload: 'web', user: null, group: null, cwd: dir, program, ...over });

  it('as root with no user named: the dedicated user, created once', async () => {
    const accounts = new TableAccounts([root]);
    const users = new AppUsers(accounts, { uid: 0, name: 'root' }, '/m/.trellis');
    const a = await users.decide(app());
    const b = await users.decide(app({ cwd: dir }));
    assert.deepEqual(a, { runAs: { uid: 996, gid: 996, name: DEFAULT_APP_USER }, warning: null });
    assert.deepEqual(b.runAs, a.runAs);
    assert.deepEqual(accounts.created, [DEFAULT_APP_USER]);
  });

  it('as root, an existing dedicated user is used, not created again', async () => {
    const accounts = new TableAccounts([root, { name: DEFAULT_APP_USER, uid: 990, gid: 991, home: '/' }]);
    const d = await new AppUsers(accounts, { uid: 0, name: 'root' }, '/s').decide(app());
    assert.deepEqual(d.runAs, { uid: 990, gid: 991, name: DEFAULT_APP_USER });
    assert.deepEqual(accounts.created, []);
  });

  it('as root, a folder the dedicated user cannot enter: falls back to root and says why, plainly', async () => {
    const d = await new AppUsers(new TableAccounts([root]), { uid: 0, name: 'root' }, '/m/.trellis').decide(app({ cwd: closed }));
    assert.equal(d.runAs, null);
    assert.match(d.warning ?? '', /^workload web runs as root, the agent's user, because trellis-app cannot reach its app: .*closed \(mode 0700.*can read the mesh's credentials in \/m\/\.trellis/);
  });

  it('as root, when the dedicated user cannot be created: root, and the reason', async () => {
    const accounts = new TableAccounts([root]);
    accounts.failCreate = 'useradd: Permission denied.\nmore';
    const d = await new AppUsers(accounts, { uid: 0, name: 'root' }, '/s').decide(app());
    assert.equal(d.runAs, null);
    assert.match(d.warning ?? '', /user trellis-app could not be created \(useradd: Permission denied\.\)/);
  });

  it('as root, a named user and group are used', async () => {
    const d = await new AppUsers(new TableAccounts([root, alice], { web: 1200 }), { uid: 0, name: 'root' }, '/s').decide(app({ user: 'alice', group: 'web' }));
    assert.deepEqual(d, { runAs: { uid: 1000, gid: 1200, name: 'alice' }, warning: null });
  });

  it('as root, a named user that cannot reach the app is an error naming the path (a choice the file made must hold)', async () => {
    await assert.rejects(
      new AppUsers(new TableAccounts([root, alice]), { uid: 0, name: 'root' }, '/s').decide(app({ user: 'alice', cwd: closed })),
      (err: unknown) => err instanceof TrellisError && err.code === 'TRELLIS_E_CONFIG' && /workload web: user alice cannot run its app: .*closed \(mode 0700/.test(err.message),
    );
  });

  it('unknown users and groups are errors naming the workload', async () => {
    const users = new AppUsers(new TableAccounts([root, alice]), { uid: 0, name: 'root' }, '/s');
    await assert.rejects(users.decide(app({ user: 'mallory' })), /workload web: user mallory does not exist on this host/);
    await assert.rejects(users.decide(app({ user: 'alice', group: 'nogroup-here' })), /workload web: group nogroup-here does not exist on this host/);
  });

  it('user: root is allowed, with a warning', async () => {
    const d = await new AppUsers(new TableAccounts([root]), { uid: 0, name: 'root' }, '/s').decide(app({ user: 'root' }));
    assert.equal(d.runAs, null);
    assert.match(d.warning ?? '', /workload web runs as root \(user: root\): its app can read the mesh's credentials in \/s/);
  });

  it('not root: apps run as the agent, and the output says they can read the credentials', async () => {
    const accounts = new TableAccounts([alice]);
    const d = await new AppUsers(accounts, { uid: 1000, name: 'alice' }, '/home/alice/shop/.trellis').decide(app());
    assert.equal(d.runAs, null);
    assert.match(d.warning ?? '', /^apps run as alice, the user running the mesh, so they can read its credentials in \/home\/alice\/shop\/\.trellis; run it as root/);
    assert.deepEqual(accounts.created, []);
  });

  it('not root: naming another user is an error; naming oneself is fine', async () => {
    const users = new AppUsers(new TableAccounts([root, alice]), { uid: 1000, name: 'alice' }, '/s');
    await assert.rejects(users.decide(app({ user: 'root' })), /workload web: user: root needs the agent to run as root \(it runs as alice, uid 1000\)/);
    assert.equal((await users.decide(app({ user: 'alice' }))).runAs, null);
  });
});

describe('parsePasswdLine', () => {
  it('reads name, uid, gid and home', () => {
    assert.deepEqual(parsePasswdLine('trellis-app:x:996:996::/nonexistent:/usr/sbin/nologin'), { name: 'trellis-app', uid: 996, gid: 996, home: '/nonexistent' });
  });
  it('refuses short or non-numeric lines', () => {
    assert.equal(parsePasswdLine('x:y:z'), null);
    assert.equal(parsePasswdLine('a:x:one:2::/:/bin/sh'), null);
  });
});

describe('an app inherits no CLI credential', () => {
  it('TRELLIS_TOKEN of the shell that started the mesh is not passed on; other variables are', () => {
    const workload = { name: 'web', env: {}, ports: [], upstreams: [] } as unknown as WorkloadConfig;
    const env = buildAppEnv({ base: { TRELLIS_TOKEN: 'secret', PATH: '/bin' }, workload, replica: 0, identity: 'spiffe://td/ns/d/sa/web', appPorts: new Map(), outbound: [] });
    assert.equal(env.TRELLIS_TOKEN, undefined);
    assert.equal(env.PATH, '/bin');
  });
});
