import type { AgentReport } from '../../api/registry.js';
import { parseSpiffeId } from '../../identity/spiffe.js';
import { HttpError } from '../api/http-error.js';
import type { StoredHostPolicy } from '../store/credential-store.js';
import { mayRun, RESERVED_NAMESPACE } from './host-policy.js';
import type { Principal } from './principal.js';

/**
 * What an agent may do once authenticated (decideAccess let it in). The local agent (the state
 * directory's agent-token: `trellis up` and agents sharing that folder) acts for any agent id,
 * as before hosts could join. A joined host's agent acts only as itself: its agent id is its
 * host name, its workloads' identities must match its policy, and it may not take over a proxy
 * node another agent registered. Nobody gets an identity in the reserved namespace.
 */
export interface AgentScopeContext {
  policy(host: string): StoredHostPolicy | undefined;
  /** The agent that registered a proxy node, if any. */
  nodeOwner(nodeId: string): string | undefined;
  /** The namespace/serviceAccount pairs of the workloads in an agent's current report (undefined: no report). */
  reportedAccounts(agentId: string): ReadonlyArray<{ namespace: string; serviceAccount: string }> | undefined;
  /** The mesh's trust domain: an identity outside it is refused with a 400 by the issuer, not here. */
  trustDomain: string;
}

function forbidden(message: string): HttpError {
  return new HttpError(403, 'TRELLIS_E_UNAUTHORIZED', message);
}

/** A joined host's agent may only speak for its own agent id. */
export function checkAgentSelf(p: Principal, agentId: string): void {
  if (p.kind === 'host-agent' && p.host !== agentId) throw forbidden(`the agent of host ${p.host} may not act for agent "${agentId}"`);
}

function checkIdentity(p: Principal, namespace: string, serviceAccount: string, ctx: AgentScopeContext): void {
  if (namespace === RESERVED_NAMESPACE) throw forbidden(`namespace ${RESERVED_NAMESPACE} is reserved for the control plane: no workload may hold an identity in it`);
  if (p.kind !== 'host-agent') return;
  const allowed = ctx.policy(p.host)?.serviceAccounts ?? [];
  if (!mayRun(allowed, namespace, serviceAccount)) {
    throw forbidden(`host ${p.host} may not run ${namespace}/${serviceAccount} (its join token allowed: ${allowed.join(', ') || 'nothing'}); join it with a token that lists it (trellis token create --host ${p.host} --service-account ${namespace}/${serviceAccount})`);
  }
}

function checkNode(p: Principal, nodeId: string, ctx: AgentScopeContext): void {
  if (p.kind !== 'host-agent') return;
  const owner = ctx.nodeOwner(nodeId);
  if (owner !== undefined && owner !== p.host) throw forbidden(`proxy node ${nodeId} is registered by agent ${owner}, not by host ${p.host}`);
}

/** PUT /api/v1/agents/:agentId: every workload the report holds must be this host's to run. */
export function checkReport(p: Principal, agentId: string, report: AgentReport, ctx: AgentScopeContext): void {
  checkAgentSelf(p, agentId);
  for (const w of report.workloads) {
    checkIdentity(p, w.namespace, w.serviceAccount, ctx);
    for (const r of w.replicas) checkNode(p, r.nodeId, ctx);
  }
}

/**
 * POST /api/v1/agents/:agentId/tokens: a proxy bootstrap token only for an identity this agent
 * may run. A joined host: its policy. The local agent: a workload of its own mesh file, i.e. of
 * the report it sent first (the agent reports before it starts any proxy). Whoever holds the
 * agent token can send reports, so this keeps a leaked bootstrap call from reaching identities
 * the mesh file does not run; the agent token itself is kept from apps (src/agent/run-as).
 */
export function checkBootstrap(p: Principal, agentId: string, nodeId: string, identity: string, ctx: AgentScopeContext): void {
  checkAgentSelf(p, agentId);
  const parts = parseSpiffeId(identity);
  // The schema and the issuer refuse these with a 400 saying what is wrong with the identity.
  if (parts === null || parts.trustDomain !== ctx.trustDomain) return;
  checkIdentity(p, parts.namespace, parts.serviceAccount, ctx);
  if (p.kind === 'local-agent') checkReported(agentId, parts.namespace, parts.serviceAccount, ctx);
  checkNode(p, nodeId, ctx);
}

function checkReported(agentId: string, namespace: string, serviceAccount: string, ctx: AgentScopeContext): void {
  const accounts = ctx.reportedAccounts(agentId);
  if (accounts === undefined) throw forbidden(`agent "${agentId}" has sent no report: it may ask for identities of its own workloads once it has reported them`);
  if (!accounts.some((a) => a.namespace === namespace && a.serviceAccount === serviceAccount)) {
    throw forbidden(`agent "${agentId}" runs no workload as ${namespace}/${serviceAccount} (its report lists ${[...new Set(accounts.map((a) => `${a.namespace}/${a.serviceAccount}`))].join(', ') || 'none'})`);
  }
}
