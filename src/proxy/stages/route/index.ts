import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { RouteStage } from './route.js';
import type { RouteConfig } from './route.js';

export { RouteStage } from './route.js';
export type { RouteConfig } from './route.js';

/** Outbound listeners only: routes apply on the caller's side. */
registerStage<StageContext, RouteConfig>({
  name: 'route',
  configure: (ctx) => (ctx.site.direction === 'outbound' ? { clusters: ctx.clusters, parent: ctx.site.cluster, random: ctx.random } : null),
  create: (config, next) => new RouteStage(config, next),
});
