import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { RateLimitStage } from './ratelimit.js';
import type { RateLimitStageConfig } from './ratelimit.js';

export { RateLimitStage, tooManyRequests } from './ratelimit.js';
export type { RateLimitStageConfig } from './ratelimit.js';

registerStage<StageContext, RateLimitStageConfig>({
  name: 'ratelimit',
  configure: (ctx) => (ctx.site.direction === 'inbound' ? { slot: ctx.policies.slot(ctx.site.name), clock: ctx.clock } : null),
  create: (config, next) => new RateLimitStage(config, next),
});
