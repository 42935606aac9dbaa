import { registerStage } from '../../pipeline/stage.js';
import type { StageContext } from '../context.js';
import { RequestTimeoutStage } from './request-timeout.js';
import type { RequestTimeoutConfig } from './request-timeout.js';
import { TryTimeoutStage } from './try-timeout.js';
import type { TryTimeoutConfig } from './try-timeout.js';

export { RequestTimeoutStage } from './request-timeout.js';
export { TryTimeoutStage } from './try-timeout.js';

/** Above retry: the whole exchange (route `timeouts.request`, gRPC `grpc-timeout`). */
registerStage<StageContext, RequestTimeoutConfig>({
  name: 'request-timeout',
  configure: (ctx) => ({ clock: ctx.clock }),
  create: (config, next) => new RequestTimeoutStage(config, next),
});

/** Below retry: each try until its response head (route `timeouts.backendRequest`). */
registerStage<StageContext, TryTimeoutConfig>({
  name: 'try-timeout',
  configure: (ctx) => (ctx.site.direction === 'outbound' ? { clock: ctx.clock } : null),
  create: (config, next) => new TryTimeoutStage(config, next),
});
