import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { TraceStage } from './trace.js';
import type { TraceConfig } from './trace.js';

export { TraceStage } from './trace.js';
export type { TraceConfig } from './trace.js';

registerStage<StageContext, TraceConfig>({
  name: 'trace',
  configure: (ctx) => ({ tracer: ctx.tracer, direction: ctx.site.direction, cluster: ctx.site.cluster, service: ctx.node.service }),
  create: (config, next) => new TraceStage(config, next),
});
