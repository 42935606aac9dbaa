import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { ObserveStage } from './observe.js';
import type { ObserveConfig } from './observe.js';

export { ObserveStage } from './observe.js';
export type { ObserveConfig } from './observe.js';

registerStage<StageContext, ObserveConfig>({
  name: 'observe',
  configure: (ctx) => ({
    node: ctx.node,
    direction: ctx.site.direction,
    listener: ctx.site.name,
    cluster: ctx.site.cluster,
    metrics: ctx.metrics,
    accessLog: ctx.accessLog,
    tap: ctx.tap,
  }),
  create: (config, next) => new ObserveStage(config, next),
});
