/**
 * Mesh resources (routes and policies) on the wire: the REST API's bodies and answers.
 * Types only; the schemas live in src/config/resources/.
 *
 * PUT    /api/v1/resources[?dryRun=true]           body {resources: Resource[]} -> 200 ApplyResult | 400 ResourceErrorBody
 * GET    /api/v1/resources                         -> ResourceView[]   (every kind)
 * GET    /api/v1/resources/:kind                   -> ResourceView[]   (kind: HTTPRoute, httproute, httproutes, ...)
 * GET    /api/v1/resources/:kind/:namespace/:name  -> ResourceView     | 404
 * DELETE /api/v1/resources/:kind/:namespace/:name  -> 200 {deleted: ResourceRef} | 404
 * Writes (PUT, DELETE) carry `authorization: Bearer <token>` (`<stateDir>/agent-token`).
 */
export const RESOURCES_PATH = '/resources';

export const RESOURCE_KINDS = ['HTTPRoute', 'GRPCRoute', 'DestinationPolicy', 'FaultInjection', 'AuthorizationPolicy', 'RateLimitPolicy', 'ExternalService'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';
export const TRELLIS_API_VERSION = 'trellis.dev/v1alpha1';

/** apiVersion each kind must carry. */
export const API_VERSION_OF: Record<ResourceKind, string> = {
  HTTPRoute: GATEWAY_API_VERSION,
  GRPCRoute: GATEWAY_API_VERSION,
  DestinationPolicy: TRELLIS_API_VERSION,
  FaultInjection: TRELLIS_API_VERSION,
  AuthorizationPolicy: TRELLIS_API_VERSION,
  RateLimitPolicy: TRELLIS_API_VERSION,
  ExternalService: TRELLIS_API_VERSION,
};

export interface ResourceRef {
  kind: ResourceKind;
  namespace: string;
  name: string;
}

export interface ResourceMetadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by the control plane: changes on every stored change of this resource. */
  resourceVersion?: string;
  /** Set by the control plane: 1 on create, +1 whenever `spec` changes. */
  generation?: number;
  creationTimestamp?: string;
}

/** A validated resource with every default applied (`spec` is kind-specific, see docs/configuration.md). */
export interface Resource {
  apiVersion: string;
  kind: ResourceKind;
  metadata: ResourceMetadata;
  spec: Record<string, unknown>;
}

/** Kubernetes-style condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface RouteParentStatus {
  parentRef: { group: string; kind: string; name: string; namespace: string; port?: number };
  controllerName: string;
  conditions: Condition[];
}

/** Computed at read time against the registry's services. Routes: `parents`; policies: `conditions`. */
export interface ResourceStatus {
  parents?: RouteParentStatus[];
  conditions?: Condition[];
}

export interface ResourceView extends Resource {
  status: ResourceStatus;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyResult {
  dryRun: boolean;
  results: (ResourceRef & { action: ApplyAction; resourceVersion: string; generation: number })[];
}

/** One validation problem: `index` is the resource's position in the applied list. */
export interface ResourceIssue {
  index: number;
  kind: string;
  name: string;
  /** `spec.rules[0].matches[1].path.value`; empty for the resource itself. */
  path: string;
  message: string;
}

export interface ResourceErrorBody {
  error: { code: string; message: string; issues?: ResourceIssue[] };
}

/** What the control plane emits (`ResourceStore` event `changed`) after each stored change. */
export interface ResourceChangeEvent {
  /** Store-wide resource version after the change. */
  version: number;
  changed: ResourceRef[];
  deleted: ResourceRef[];
}
