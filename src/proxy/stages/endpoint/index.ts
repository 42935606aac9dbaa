import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { EndpointStage } from './endpoint.js';
import type { EndpointConfig } from './endpoint.js';

export { EndpointStage } from './endpoint.js';
export type { EndpointConfig } from './endpoint.js';

registerStage<StageContext, EndpointConfig>({
  name: 'endpoint',
  configure: (ctx) => ({ leases: ctx.leases, attempts: ctx.attempts }),
  create: (config) => new EndpointStage(config),
});
