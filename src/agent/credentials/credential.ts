import type { Dispatcher } from 'undici';

/**
 * What an agent presents to the control plane's REST API. Two kinds: the state directory's
 * agent-token (an agent beside its control plane: `trellis up`, or `trellis agent --state-dir`
 * of that folder) and a joined host's certificate (`trellis agent --join`, ./host-credential.ts).
 */
export interface ControlPlaneCredential {
  /** Loads what is needed before the first call; fails with a TrellisError saying what is missing. */
  prepare(): Promise<void>;
  /** Request headers (the bearer token, if any). */
  headers(): Record<string, string>;
  /** The undici dispatcher to use (TLS: the CA to verify with, the client certificate); undefined: undici's global one. */
  dispatcher(): Dispatcher | undefined;
  /** A call was refused (401/403): reload what may have changed; true when a retry makes sense. */
  refresh(): Promise<boolean>;
  /** Stops timers and closes connections. */
  close(): Promise<void>;
  /** The agent id this credential binds the agent to (a joined host's name), if it binds it. */
  readonly boundAgentId?: string;
}
