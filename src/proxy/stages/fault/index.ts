import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { FaultStage } from './fault.js';
import type { FaultConfig } from './fault.js';

export { FaultStage } from './fault.js';
export type { FaultConfig } from './fault.js';

registerStage<StageContext, FaultConfig>({
  name: 'fault',
  configure: (ctx) => (ctx.site.direction === 'outbound' ? { clock: ctx.clock, random: ctx.random } : null),
  create: (config, next) => new FaultStage(config, next),
});
