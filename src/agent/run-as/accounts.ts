import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A user as the system's name service knows it. */
export interface Account {
  name: string;
  uid: number;
  /** Primary group. */
  gid: number;
  home: string;
}

/** Looks users and groups up; injected so decisions can be tested without /etc/passwd. */
export interface Accounts {
  user(nameOrId: string): Promise<Account | null>;
  group(nameOrId: string): Promise<number | null>;
  /** Creates a system user with no login and no home; throws when it cannot. */
  createSystemUser(name: string): Promise<void>;
}

/**
 * `getent`, not /etc/passwd: it asks NSS, so users from LDAP/SSSD or systemd's dynamic users are
 * found as `id` finds them.
 */
export const systemAccounts: Accounts = {
  async user(nameOrId) {
    const line = await getent('passwd', nameOrId);
    return line === null ? null : parsePasswdLine(line);
  },
  async group(nameOrId) {
    const line = await getent('group', nameOrId);
    if (line === null) return null;
    const gid = Number(line.split(':')[2]);
    return Number.isInteger(gid) ? gid : null;
  },
  async createSystemUser(name) {
    // Debian's useradd: a system account (uid below 1000), no home, no login shell.
    await run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  },
};

async function getent(db: 'passwd' | 'group', key: string): Promise<string | null> {
  try {
    const { stdout } = await run('getent', [db, key]);
    return stdout.split('\n')[0] ?? null;
  } catch {
    // getent exits 2 for "not found"; a missing getent is the same answer for us.
    return null;
  }
}

/** `name:x:uid:gid:gecos:home:shell` */
export function parsePasswdLine(line: string): Account | null {
  const f = line.split(':');
  if (f.length < 7) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[0] === '') return null;
  return { name: f[0] as string, uid, gid, home: f[5] as string };
}
