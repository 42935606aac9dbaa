import { ControlPlane } from './control-plane.js';
import type { ControlPlaneOptions } from './control-plane.js';

export type { ControlPlaneOptions } from './control-plane.js';

export interface RunningControlPlane {
  apiUrl: string;
  pushUrl: string;
  close(): Promise<void>;
}

/**
 * Starts the control plane: state dir (0700), CA under `<stateDir>/ca`, agent token,
 * store, both listeners, then `<stateDir>/control-plane.json` with the bound addresses.
 * Signals are the caller's business; close() stops everything.
 */
export async function runControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const cp = await ControlPlane.start(opts);
  return { apiUrl: cp.apiUrl, pushUrl: cp.pushUrl, close: () => cp.close() };
}
