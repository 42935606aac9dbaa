import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { AuthzStage } from './authz.js';
import type { AuthzConfig } from './authz.js';

export { AuthzStage, UNAUTHORIZED_REPLY } from './authz.js';
export type { AuthzConfig } from './authz.js';
export { TcpAuthorization, tcpConnectionRequest } from './tcp.js';
export type { ResetConnection } from './tcp.js';

registerStage<StageContext, AuthzConfig>({
  name: 'authz',
  configure: (ctx) => (ctx.site.direction === 'inbound' ? { slot: ctx.policies.slot(ctx.site.name), logger: ctx.logger } : null),
  create: (config, next) => new AuthzStage(config, next),
});
