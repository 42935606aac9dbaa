import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { RetryStage } from './retry.js';
import type { RetryConfig } from './retry.js';

export { RetryStage } from './retry.js';
export type { RetryConfig } from './retry.js';

registerStage<StageContext, RetryConfig>({
  name: 'retry',
  configure: (ctx) => (ctx.site.direction === 'outbound' ? { clusters: ctx.clusters, clock: ctx.clock, random: ctx.random } : null),
  create: (config, next) => new RetryStage(config, next),
});
