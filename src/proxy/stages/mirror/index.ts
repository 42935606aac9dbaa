import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { MirrorStage } from './mirror.js';
import type { MirrorConfig } from './mirror.js';

export { MirrorStage } from './mirror.js';
export type { MirrorConfig } from './mirror.js';

registerStage<StageContext, MirrorConfig>({
  name: 'mirror',
  configure: (ctx) => (ctx.site.direction === 'outbound' ? { clusters: ctx.clusters, random: ctx.random, clock: ctx.clock } : null),
  create: (config, next) => new MirrorStage(config, next),
});
