import type { AgentReport, CheckReport, EndpointView, ProxyView, ServiceView, WorkloadView } from '../../api/registry.js';
import type { ApplyResult, ResourceKind, ResourceView } from '../../api/resources.js';
import type { ProxySnapshot } from '../../api/snapshot.js';
import type { TraceSummaryView, TraceView } from '../../api/traces.js';
import type { WhyAnswer, WhyQuery } from '../../api/why.js';
import type { AgentScopeContext } from '../auth/agent-scope.js';
import type { ApiTokens } from '../auth/api-tokens.js';
import type { Enrolment } from '../auth/enrolment.js';
import type { StatsService } from '../stats/stats-service.js';
import type { AdminDispatcherFor } from '../proxy-admin/admin-dispatcher.js';
import type { TraceReceiver } from './otlp-traces.js';

/** Credentials and who-may-do-what, as the routes use them (src/control/auth/). */
export interface ApiAuth {
  apiTokens: ApiTokens;
  enrolment: Enrolment;
  scope: AgentScopeContext;
  /** The dashboard's login cookie (src/control/auth/dashboard-login.ts). */
  login: { cookieName: string; secure: boolean; valid(token: string): boolean };
}

/** What the REST API needs from the control plane. */
export interface ApiBackend {
  trustDomain: string;
  version: string;
  /** The mesh CA's roots (public: GET /api/v1/ca). */
  trustBundlePem(): string[];
  auth: ApiAuth;
  reportAgent(agentId: string, report: AgentReport): Promise<void>;
  removeAgent(agentId: string): Promise<void>;
  /** A one-time bootstrap token; `pushUrls` lists every replica's push API (this one first). */
  issueToken(nodeId: string, identity: string): Promise<{ token: string; pushUrl: string; pushUrls: string[]; trustBundlePem: string[]; controlPlaneIdentity: string }>;
  services(): ServiceView[];
  workloads(): WorkloadView[];
  endpoints(): EndpointView[];
  proxies(): ProxyView[];
  snapshot(nodeId: string): { nodeId: string; version: number; snapshot: ProxySnapshot } | undefined;
  check(): Promise<CheckReport>;
  metricsText(): Promise<{ contentType: string; body: string }>;
  /** Mesh resources (src/api/resources.ts): all-or-nothing apply, read with status, delete. */
  applyResources(items: unknown[], dryRun: boolean): Promise<ApplyResult>;
  listResources(kind?: ResourceKind): ResourceView[];
  getResource(kind: ResourceKind, namespace: string, name: string): ResourceView | undefined;
  deleteResource(kind: ResourceKind, namespace: string, name: string): Promise<boolean>;
  /** OTLP/HTTP span receipt (POST /v1/traces) and the recent-trace views (src/api/traces.ts). */
  traces: TraceReceiver;
  recentTraces(limit: number): TraceSummaryView[];
  trace(traceId: string): TraceView | undefined;
  /** The trace with the spans the other replicas keep merged in (peer-traces.ts); absent: this replica's only. */
  traceAcrossReplicas?(traceId: string): Promise<TraceView | undefined>;
  /** Golden metrics for the dashboard (src/api/stats.ts). */
  stats: StatsService;
  /** `trellis why` (src/api/why.ts): throws TrellisError for a source or target it cannot resolve. */
  why(q: WhyQuery): WhyAnswer;
  /** The client for a proxy's https (remote, mTLS) admin URL, for taps; absent: plain HTTP only. */
  adminDispatcherFor?: AdminDispatcherFor;
}
