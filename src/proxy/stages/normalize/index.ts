import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { NormalizeStage } from './normalize.js';
import type { NormalizeConfig } from './normalize.js';

export { NormalizeStage } from './normalize.js';
export { PEER_IDENTITY_HEADER } from './mesh-headers.js';

registerStage<StageContext, NormalizeConfig>({
  name: 'normalize',
  configure: (ctx) => ({ role: ctx.site.ingress ? 'ingress' : ctx.site.direction }),
  create: (config, next) => new NormalizeStage(config, next),
});
