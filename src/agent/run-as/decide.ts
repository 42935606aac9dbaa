import { TrellisError } from '../../errors.js';
import type { Accounts } from './accounts.js';
import { unreachable } from './reach.js';

/** The user apps run as when the agent is root and the mesh file names none. */
export const DEFAULT_APP_USER = 'trellis-app';

export interface AppProcess {
  workload: string;
  /** The mesh file's `user`/`group` (null = default). */
  user: string | null;
  group: string | null;
  /** Working directory and resolved program of the app. */
  cwd: string;
  program: string;
}

/** Who an app runs as; null = as the agent itself (no switch). */
export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

export interface Decision {
  runAs: RunAs | null;
  /** A line for `up`'s output when the app can read what the mesh holds, and why. */
  warning: string | null;
}

/**
 * Decides which user runs each app (docs/security.md, "Apps run as a user of their own").
 *
 * Why: apps run with the mesh folder as their working directory; as the agent's user they could
 * read the state directory (the CA key, the agent's credential) and mint any identity. As root
 * the agent gives each app the mesh file's `user`, or else a dedicated unprivileged user
 * (`trellis-app`, created once as a system user). A user the mesh file names must work (an
 * error otherwise); the default falls back to the agent's user, loudly, when that user cannot
 * reach the app's folder or program, so `npm start` still works from a clone under /root.
 */
export class AppUsers {
  private defaultUser: Promise<RunAs | string> | null = null;

  constructor(
    private readonly accounts: Accounts,
    /** The agent's own uid and name. */
    private readonly agent: { uid: number; name: string },
    private readonly stateDir: string,
  ) {}

  async decide(app: AppProcess): Promise<Decision> {
    if (this.agent.uid !== 0) return this.unprivileged(app);
    if (app.user !== null) {
      const runAs = await this.named(app);
      const blocked = await this.blocked(app, runAs);
      if (blocked !== null) throw new TrellisError('TRELLIS_E_CONFIG', `workload ${app.workload}: user ${app.user} cannot run its app: ${blocked} (give that user access, or choose another user)`);
      return { runAs: runAs.uid === 0 ? null : runAs, warning: runAs.uid === 0 ? `workload ${app.workload} runs as root (user: ${app.user}): its app can read the mesh's credentials in ${this.stateDir}` : null };
    }
    const made = await (this.defaultUser ??= this.makeDefaultUser());
    if (typeof made === 'string') return { runAs: null, warning: `workload ${app.workload} runs as root, the agent's user: ${made}; its app can read the mesh's credentials in ${this.stateDir}` };
    const runAs = app.group === null ? made : { ...made, gid: await this.groupId(app) };
    const blocked = await this.blocked(app, runAs);
    if (blocked !== null) {
      return { runAs: null, warning: `workload ${app.workload} runs as root, the agent's user, because ${runAs.name} cannot reach its app: ${blocked}; its app can read the mesh's credentials in ${this.stateDir} (give ${runAs.name} access, or set user: in the mesh file)` };
    }
    return { runAs, warning: null };
  }

  /** Not root: no switch is possible; a named user must be the agent's own. */
  private async unprivileged(app: AppProcess): Promise<Decision> {
    if (app.user !== null) {
      const named = await this.named(app);
      if (named.uid !== this.agent.uid) {
        throw new TrellisError('TRELLIS_E_CONFIG', `workload ${app.workload}: user: ${app.user} needs the agent to run as root (it runs as ${this.agent.name}, uid ${this.agent.uid})`);
      }
    }
    return { runAs: null, warning: `apps run as ${this.agent.name}, the user running the mesh, so they can read its credentials in ${this.stateDir}; run it as root to give apps a user of their own (docs/security.md)` };
  }

  private async named(app: AppProcess): Promise<RunAs> {
    const user = await this.accounts.user(app.user as string);
    if (user === null) throw new TrellisError('TRELLIS_E_CONFIG', `workload ${app.workload}: user ${app.user} does not exist on this host`);
    const gid = app.group === null ? user.gid : await this.groupId(app);
    return { uid: user.uid, gid, name: user.name };
  }

  private async groupId(app: AppProcess): Promise<number> {
    const gid = await this.accounts.group(app.group as string);
    if (gid === null) throw new TrellisError('TRELLIS_E_CONFIG', `workload ${app.workload}: group ${app.group} does not exist on this host`);
    return gid;
  }

  private async makeDefaultUser(): Promise<RunAs | string> {
    let user = await this.accounts.user(DEFAULT_APP_USER);
    if (user === null) {
      try {
        await this.accounts.createSystemUser(DEFAULT_APP_USER);
      } catch (err) {
        return `user ${DEFAULT_APP_USER} could not be created (${(err as Error).message.split('\n')[0]})`;
      }
      user = await this.accounts.user(DEFAULT_APP_USER);
      if (user === null) return `user ${DEFAULT_APP_USER} was created but cannot be found`;
    }
    if (user.uid === 0) return `user ${DEFAULT_APP_USER} has uid 0`;
    return { uid: user.uid, gid: user.gid, name: user.name };
  }

  private async blocked(app: AppProcess, who: RunAs): Promise<string | null> {
    return (await unreachable(app.cwd, who, 'enter')) ?? (await unreachable(app.program, who, 'run'));
  }
}
