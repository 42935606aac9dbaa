import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { DrainStage } from './drain.js';
import type { DrainConfig } from './drain.js';

export { DrainStage } from './drain.js';

registerStage<StageContext, DrainConfig>({
  name: 'drain',
  configure: (ctx) => ({ isDraining: () => ctx.isDraining() }),
  create: (config, next) => new DrainStage(config, next),
});
