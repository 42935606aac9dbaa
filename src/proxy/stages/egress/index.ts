import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { EgressStage } from './egress.js';
import type { EgressStageConfig } from './egress.js';

export { EgressStage, EGRESS_DENIED_REPLY } from './egress.js';
export type { EgressStageConfig } from './egress.js';

registerStage<StageContext, EgressStageConfig>({
  name: 'egress',
  configure: (ctx) => {
    const e = ctx.site.egress;
    if (e === undefined || ctx.egress === undefined) return null;
    return { table: ctx.egress, port: e.port, mode: e.mode, identity: ctx.node.identity, logger: ctx.logger, clock: ctx.clock };
  },
  create: (config, next) => new EgressStage(config, next),
});
