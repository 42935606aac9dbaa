/**
 * Every request stage, registered by name (each folder registers itself on import), and the
 * stacks the listeners build from them, first stage first on the request path (design.md, "A
 * request's way through the proxy"). A stage that has nothing to do on a listener leaves
 * itself out of that listener's stack (its `configure` returns null).
 */
import './normalize/index.js';
import './trace/index.js';
import './observe/index.js';
import './drain/index.js';
import './authz/index.js';
import './ratelimit/index.js';
import './egress/index.js';
import './route/index.js';
import './fault/index.js';
import './timeout/index.js';
import './retry/index.js';
import './mirror/index.js';
import './endpoint/index.js';

/** Outbound listeners (an app calling a service) and ingresses (clients outside the mesh). */
export const OUTBOUND_STACK: readonly string[] = [
  'normalize', 'trace', 'observe', 'drain', 'route', 'fault', 'request-timeout', 'retry', 'try-timeout', 'mirror', 'endpoint',
];

/**
 * HTTP egress listeners (an app calling a destination outside the mesh): the egress stage picks
 * and authorizes the destination by host; no routes (routes attach to mesh Services).
 */
export const EGRESS_HTTP_STACK: readonly string[] = ['normalize', 'trace', 'observe', 'drain', 'egress', 'endpoint'];

/** Inbound listeners (a peer's mTLS connection to the local app). */
export const INBOUND_STACK: readonly string[] = ['normalize', 'trace', 'observe', 'drain', 'authz', 'ratelimit', 'request-timeout', 'endpoint'];

export type { StageContext, NodeLabels, AttemptStarters } from './context.js';
