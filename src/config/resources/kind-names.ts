import { API_VERSION_OF, RESOURCE_KINDS, type ResourceKind } from '../../api/resources.js';

/**
 * How a user may spell each resource kind on the command line and in API paths
 * (`trellis get destinationpolicies`, `GET /api/v1/resources/dp`), as kubectl does: the kind
 * in any case, its singular and plural resource names, its short names, and the singular or
 * plural qualified by the API group (`httproutes.gateway.networking.k8s.io`). docs/configuration.md
 * lists the same names ("Kind names"); a test holds the two together.
 */
export interface KindNames {
  singular: string;
  plural: string;
  short: readonly string[];
}

export const KIND_NAMES: Readonly<Record<ResourceKind, KindNames>> = {
  HTTPRoute: { singular: 'httproute', plural: 'httproutes', short: [] },
  GRPCRoute: { singular: 'grpcroute', plural: 'grpcroutes', short: [] },
  DestinationPolicy: { singular: 'destinationpolicy', plural: 'destinationpolicies', short: ['dp'] },
  FaultInjection: { singular: 'faultinjection', plural: 'faultinjections', short: ['fault', 'faults'] },
  AuthorizationPolicy: { singular: 'authorizationpolicy', plural: 'authorizationpolicies', short: ['authz', 'ap'] },
  RateLimitPolicy: { singular: 'ratelimitpolicy', plural: 'ratelimitpolicies', short: ['ratelimit', 'rlp'] },
  ExternalService: { singular: 'externalservice', plural: 'externalservices', short: ['ext', 'egress'] },
};

/** Every accepted spelling (lower case) -> its kind. */
function buildIndex(): Map<string, ResourceKind> {
  const index = new Map<string, ResourceKind>();
  for (const kind of RESOURCE_KINDS) {
    const n = KIND_NAMES[kind];
    const group = API_VERSION_OF[kind].split('/')[0] ?? '';
    for (const name of [kind.toLowerCase(), n.singular, n.plural, ...n.short, `${n.singular}.${group}`, `${n.plural}.${group}`]) index.set(name, kind);
  }
  return index;
}

let index: Map<string, ResourceKind> | undefined;

/** Lower-case, plural, short and group-qualified spellings a user may type for a kind (`get httproutes`). */
export function kindFromName(s: string): ResourceKind | undefined {
  index ??= buildIndex();
  return index.get(s.toLowerCase());
}
