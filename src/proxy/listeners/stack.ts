import type { ListenerSite } from '../pipeline/exchange.js';
import type { LeaseSource } from '../pipeline/lease.js';
import { buildPipeline } from '../pipeline/stage.js';
import type { Pipeline } from '../pipeline/stage.js';
import type { StageContext } from '../stages/index.js';
import { attemptStarters } from './attempts.js';
import type { ListenerContext } from './context.js';

/** Builds a listener's stack of stages (names from stages/index.ts) over its lease source. */
export function listenerPipeline(
  names: readonly string[],
  ctx: ListenerContext,
  site: ListenerSite,
  leases: LeaseSource,
  isDraining: () => boolean,
): Pipeline {
  const stageCtx: StageContext = {
    site,
    node: ctx.node,
    clock: ctx.clock,
    random: ctx.random,
    clusters: ctx.clusters,
    policies: ctx.policies,
    ...(ctx.egress !== undefined ? { egress: ctx.egress } : {}),
    tracer: ctx.tracer,
    metrics: ctx.metrics,
    accessLog: ctx.accessLog,
    tap: ctx.tap,
    logger: ctx.logger,
    isDraining,
    leases,
    attempts: attemptStarters(ctx.limits, ctx.clock),
  };
  return buildPipeline(names, stageCtx);
}
