import type { WorkloadConfig } from '../config/types.js';
import { expandEnv, expandReferences, lookupIn } from '../config/expand.js';
import { envKey } from '../config/normalize.js';
import type { HostPort } from '../api/common.js';
import { formatHostPort } from '../util/hostport.js';

export interface AppEnvInput {
  /** Inherited environment (the agent's own, usually). */
  base: Record<string, string | undefined>;
  workload: WorkloadConfig;
  replica: number;
  identity: string;
  /** App port per declared port name, in declaration order. */
  appPorts: Map<string, number>;
  /** Outbound listener per upstream, same order as workload.upstreams. */
  outbound: HostPort[];
  /** Egress listeners: variable name and address, from mesh-file `spec.outbound.ports`. */
  egress?: { env: string; listen: HostPort }[];
}

/** What the mesh assigns a replica: its ports, its upstreams' local addresses, who it is. */
export function assignedEnv(input: AppEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  const first = input.workload.ports[0];
  if (first !== undefined) env.PORT = String(input.appPorts.get(first.name));
  for (const p of input.workload.ports) env[`PORT_${envKey(p.name)}`] = String(input.appPorts.get(p.name));
  input.workload.upstreams.forEach((u, i) => {
    const hp = input.outbound[i];
    if (hp !== undefined) env[u.env] = formatHostPort(hp);
  });
  for (const e of input.egress ?? []) env[e.env] = formatHostPort(e.listen);
  env.TRELLIS_WORKLOAD = input.workload.name;
  env.TRELLIS_REPLICA = String(input.replica);
  env.TRELLIS_IDENTITY = input.identity;
  return env;
}

/**
 * The variables the mesh file defines for a replica: its `env` (with `$(VAR)` references
 * expanded) overridden by what the mesh assigns. `$(VAR)` in `command` refers to these, and
 * not to the environment `trellis up` inherited, so a mesh file means the same on every host
 * (as a Pod spec's references see the container's `env`, not the image's).
 */
export function meshVariables(input: AppEnvInput): Record<string, string> {
  const assigned = assignedEnv(input);
  return { ...expandEnv(input.workload.env, assigned), ...assigned };
}

/** `command` with `$(VAR)` references to the mesh file's variables expanded (src/config/expand.ts). */
export function expandCommand(command: readonly string[], vars: Readonly<Record<string, string>>): string[] {
  const lookup = lookupIn(vars);
  return command.map((arg) => expandReferences(arg, lookup));
}

/** The CLI's credentials in the shell that ran `up`: an app must not inherit the mesh's admin token. */
const CREDENTIAL_VARIABLES: ReadonlySet<string> = new Set(['TRELLIS_TOKEN']);

/**
 * Environment of a workload process (docs/mesh-file.md, "What a workload's process gets"):
 * inherited < the mesh file's `env` (references expanded) < what the mesh assigns (ports, upstreams, identity).
 */
export function buildAppEnv(input: AppEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.base)) if (v !== undefined && !CREDENTIAL_VARIABLES.has(k)) env[k] = v;
  return Object.assign(env, meshVariables(input));
}
