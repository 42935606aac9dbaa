import { ProxyReason } from '../../errors.js';
import type { Exchange } from './exchange.js';
import type { ResponseHandler, Service } from './service.js';
import { localReply } from './service.js';

/**
 * Stages are registered by name with a typed configuration, like the balancers and like
 * grpc-js's load-balancer registry: a stage folder calls `registerStage` once, and a listener's
 * stack is a list of names. Adding a stage is writing one folder (and naming it in a stack);
 * no codec changes.
 *
 * `C` is what the stage needs, taken from the listener's context by `configure` (null: the
 * stage has nothing to do on this listener and is left out of the stack, at no cost).
 */
export interface StageDefinition<Ctx, C> {
  readonly name: string;
  configure(ctx: Ctx): C | null;
  /** The stage's service for one listener, in front of `next`. */
  create(config: C, next: Service): Stage;
}

/** A stage of one listener's stack. */
export interface Stage extends Service {
  /**
   * Called once for every exchange of the listener when it is over (answered, failed or
   * abandoned), whether or not it reached this stage: where observers record and release what
   * they hold. Must not throw.
   */
  finish?(ex: Exchange): void;
}

/** A listener's stack: where the codec sends exchanges, and what it calls when each is over. */
export interface Pipeline {
  readonly service: Service;
  finish(ex: Exchange): void;
}

const registry = new Map<string, StageDefinition<never, unknown>>();

export function registerStage<Ctx, C>(def: StageDefinition<Ctx, C>): void {
  if (registry.has(def.name)) throw new Error(`stage "${def.name}" is registered twice`);
  registry.set(def.name, def as unknown as StageDefinition<never, unknown>);
}

export function isStageRegistered(name: string): boolean {
  return registry.has(name);
}

/** gRPC INTERNAL (13): what a gRPC caller gets for a mesh bug. */
const GRPC_INTERNAL = 13;

/** The end of a stack with no terminal stage: a mesh bug, answered rather than thrown. */
const UNTERMINATED: Service = {
  call(ex: Exchange, handler: ResponseHandler): void {
    handler.onLocal(ex, localReply(500, ProxyReason.InternalError, 'the stack has no upstream stage', undefined, GRPC_INTERNAL));
  },
};

/**
 * Builds a stack from stage names, first name first on the request path. Every name must be
 * registered (a typo is a start-up error, not a silent gap).
 */
export function buildPipeline<Ctx>(names: readonly string[], ctx: Ctx): Pipeline {
  const stages: Stage[] = [];
  let next: Service = UNTERMINATED;
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i] as string;
    const def = registry.get(name) as StageDefinition<Ctx, unknown> | undefined;
    if (def === undefined) throw new Error(`no stage "${name}" (known: ${[...registry.keys()].join(', ')})`);
    const config = def.configure(ctx);
    if (config === null) continue;
    const stage = def.create(config, next);
    stages.unshift(stage);
    next = stage;
  }
  return pipelineOf(next, stages);
}

/** A pipeline from a service and the stages whose `finish` it must call. */
export function pipelineOf(service: Service, stages: readonly Stage[]): Pipeline {
  const finishers = stages.filter((s) => typeof s.finish === 'function');
  const n = finishers.length;
  return {
    service,
    finish(ex: Exchange): void {
      for (let i = n - 1; i >= 0; i--) {
        try {
          (finishers[i] as Required<Stage>).finish(ex);
        } catch {
          // An observer's failure must not break the connection.
        }
      }
    },
  };
}
