/**
 * Golden request metrics (count, latency histogram, retries) kept in plain numbers.
 *
 * A RequestRecorder is bound once per (direction, source, destination) — per listener, and on
 * inbound listeners per calling identity — so recording a request is: one or two Map lookups
 * for the route (and backend), one Map lookup by a small integer built from method, status,
 * grpc-status and reason, and a few additions. Label strings are built once, when a series is
 * first seen, never per request. prom-client reads the numbers at scrape time (metrics.ts).
 */

export type Direction = 'inbound' | 'outbound';

/** Upper bounds (seconds) of `trellis_request_duration_seconds`; +Inf is implied. */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Default bound on series per listener; past it, method/status/grpc-status/reason fold into `other`. */
export const DEFAULT_SERIES_LIMIT = 2_000;

/** What a finished request tells the metrics. ExchangeRecord (h1) and StreamRecord (h2) both fit. */
export interface GoldenRecord {
  readonly method: string;
  /** Final status sent downstream; 0 when none was. */
  readonly status: number;
  /** trellis-reason of a response the proxy made itself. */
  readonly reason: string | undefined;
  readonly durationMs: number;
  /** `<namespace>/<name>` of the route that matched. */
  readonly route?: string | undefined;
  readonly grpcStatus?: number | undefined;
  readonly retries?: number | undefined;
  /** Backend cluster (`<ns>/<service>:<port>`) a routed request went to; absent: the listener's. */
  readonly backend?: string | undefined;
}

/** The side of a request that is fixed for a recorder. */
export interface Peer {
  namespace: string;
  /** Empty when only the identity is known (inbound callers). */
  workload: string;
  serviceAccount: string;
}

export interface Destination {
  namespace: string;
  service: string;
}

/** Series budget shared by the recorders of one listener. */
export class SeriesBudget {
  constructor(public left: number = DEFAULT_SERIES_LIMIT) {}
}

export type Labels = Readonly<Record<string, string>>;

/** One label combination: its count, duration histogram and sum. */
export class RequestSeries {
  count = 0;
  sum = 0;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  constructor(readonly labels: Labels) {}

  add(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** The series of one (route, destination) under a recorder, and its retries. */
export class RouteSeries {
  retries = 0;
  readonly series = new Map<number, RequestSeries>();
  /** Where requests go once the budget is spent: one series per status class (0, 1xx..5xx). */
  readonly overflow: (RequestSeries | undefined)[] = [];
  constructor(readonly labels: Labels) {}
}

const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
/** Method -> index 1..9; anything else is 0 ("other"). */
const METHOD_INDEX = new Map(STANDARD_METHODS.map((m, i) => [m, i + 1]));
const METHOD_NAMES = ['other', ...STANDARD_METHODS];
/** gRPC codes 0..16 -> 1..17; none -> 0; anything else -> 18. */
const GRPC_SLOTS = 19;
/** Reasons get small ids per recorder set (ProxyMetrics); id 0 is "none", the last is "other". */
export const REASON_SLOTS = 64;

/**
 * Interned reasons: trellis-reason values are a fixed set in src/errors.ts, but StreamRecord
 * carries a string, so the table is bounded anyway.
 */
export class ReasonTable {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [''];

  id(reason: string | undefined): number {
    if (reason === undefined || reason === '') return 0;
    const id = this.ids.get(reason);
    if (id !== undefined) return id;
    if (this.names.length >= REASON_SLOTS - 1) return REASON_SLOTS - 1;
    this.ids.set(reason, this.names.length);
    this.names.push(reason);
    return this.names.length - 1;
  }

  name(id: number): string {
    return id === REASON_SLOTS - 1 ? 'other' : this.names[id]!;
  }
}

/** `<ns>/<service>:<port>` -> namespace and service (the port is not a golden label). */
export function destinationOfCluster(cluster: string): Destination {
  const slash = cluster.indexOf('/');
  const colon = cluster.lastIndexOf(':');
  const namespace = slash > 0 ? cluster.slice(0, slash) : '';
  const service = cluster.slice(slash + 1, colon > slash ? colon : cluster.length);
  return { namespace, service };
}

/**
 * Pre-bound golden metrics for one (direction, source, destination). `record` is the hot path.
 */
export class RequestRecorder {
  /** Series of requests with no route and no backend override: the common case, no lookup. */
  private plain: RouteSeries | null = null;
  /** route ('' for none) -> backend ('' for the default destination) -> series. */
  private readonly routed = new Map<string, Map<string, RouteSeries>>();
  /** Every RouteSeries, for export. */
  readonly all: RouteSeries[] = [];

  constructor(
    readonly direction: Direction,
    readonly src: Peer,
    readonly dst: Destination,
    private readonly budget: SeriesBudget,
    private readonly reasons: ReasonTable,
  ) {}

  record(r: GoldenRecord): void {
    const route = r.route;
    const backend = r.backend;
    let rs: RouteSeries;
    if (route === undefined && backend === undefined) {
      rs = this.plain ??= this.routeSeries('', '');
    } else {
      const routeKey = route ?? '';
      const backendKey = backend ?? '';
      let byBackend = this.routed.get(routeKey);
      if (byBackend === undefined) {
        byBackend = new Map();
        this.routed.set(routeKey, byBackend);
      }
      let found = byBackend.get(backendKey);
      if (found === undefined) {
        found = this.routeSeries(routeKey, backendKey);
        byBackend.set(backendKey, found);
      }
      rs = found;
    }
    const retries = r.retries;
    if (retries !== undefined && retries > 0) rs.retries += retries;

    const status = r.status >= 0 && r.status < 1000 ? r.status : 0;
    const g = r.grpcStatus;
    const grpcSlot = g === undefined ? 0 : g >= 0 && g <= 16 ? g + 1 : GRPC_SLOTS - 1;
    const reasonId = this.reasons.id(r.reason);
    const method = METHOD_INDEX.get(r.method) ?? 0;
    // < 10 * 1000 * 19 * 64: a small integer key, no string building.
    const key = ((method * 1000 + status) * GRPC_SLOTS + grpcSlot) * REASON_SLOTS + reasonId;
    let s = rs.series.get(key);
    if (s === undefined) {
      if (this.budget.left > 0) {
        this.budget.left--;
        s = new RequestSeries({
          ...rs.labels,
          method: METHOD_NAMES[method]!,
          status_code: String(status),
          grpc_status: grpcSlot === 0 ? '' : grpcSlot === GRPC_SLOTS - 1 ? 'other' : String(grpcSlot - 1),
          reason: this.reasons.name(reasonId),
        });
        rs.series.set(key, s);
      } else {
        s = overflowSeries(rs, status);
      }
    }
    s.add(r.durationMs / 1000);
  }

  private routeSeries(route: string, backend: string): RouteSeries {
    const dst = backend === '' ? this.dst : destinationOfCluster(backend);
    const rs = new RouteSeries({
      direction: this.direction,
      src_namespace: this.src.namespace,
      src_workload: this.src.workload,
      src_service_account: this.src.serviceAccount,
      dst_namespace: dst.namespace,
      dst_service: dst.service,
      route,
    });
    this.all.push(rs);
    return rs;
  }
}

/** The folded series of a status class, once the listener's series budget is spent. */
function overflowSeries(rs: RouteSeries, status: number): RequestSeries {
  const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
  let s = rs.overflow[cls];
  if (s === undefined) {
    s = new RequestSeries({ ...rs.labels, method: 'other', status_code: cls === 0 ? '0' : `${cls}xx`, grpc_status: 'other', reason: 'other' });
    rs.overflow[cls] = s;
  }
  return s;
}
