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

/**
 * Replaces each lone UTF-16 surrogate with U+FFFD, as the UTF-8 encoder of the scrape response
 * would. Two label values that differ only in lone surrogates would otherwise be two series here
 * and one series on the wire (a duplicate). ES2024's String.prototype.toWellFormed, which lib
 * ES2023 does not type.
 */
export function wellFormed(s: string): string {
  return LONE_SURROGATE.test(s) ? s.replace(LONE_SURROGATE_G, '\uFFFD') : s;
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, 'g');

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

/**
 * The series of one label set (direction, source, destination, route), and its retries.
 *
 * Several recorder keys may name the same labels (a route's aborted requests have no backend,
 * its forwarded ones name the listener's own cluster; two ports of one service; two listeners
 * with the same destination), so RouteSeries are shared through a RouteSeriesTable, and inside
 * one, request series are interned by their label values: whatever the keys, each label set is
 * exported once.
 */
export class RouteSeries {
  retries = 0;
  /** Record key (method, status, grpc-status, reason ids) -> series; several keys may share one. */
  readonly series = new Map<number, RequestSeries>();
  /** The series by their label values: what is exported, each once. */
  readonly byLabels = new Map<string, RequestSeries>();
  /** Where requests go once the budget is spent: one series per status class (0, 1xx..5xx). */
  readonly overflow: (RequestSeries | undefined)[] = [];
  constructor(readonly labels: Labels) {}

  /** The series with these per-request labels, made when new (the caller checks the budget). */
  intern(method: string, statusCode: string, grpcStatus: string, reason: string): { series: RequestSeries; created: boolean } {
    const id = `${method}\u0000${statusCode}\u0000${grpcStatus}\u0000${reason}`;
    const found = this.byLabels.get(id);
    if (found !== undefined) return { series: found, created: false };
    const series = new RequestSeries({ ...this.labels, method, status_code: statusCode, grpc_status: grpcStatus, reason });
    this.byLabels.set(id, series);
    return { series, created: true };
  }
}

/** The label set of a RouteSeries. */
export interface RouteLabels {
  direction: Direction;
  src: Peer;
  dst: Destination;
  route: string;
}

/**
 * Every RouteSeries of one ProxyMetrics, by label values: recorders ask here, so two of them
 * (or two (route, backend) keys of one) that produce the same labels share one RouteSeries and
 * one `trellis_retries_total` line.
 */
export class RouteSeriesTable {
  private readonly byLabels = new Map<string, RouteSeries>();

  get(l: RouteLabels): RouteSeries {
    const labels: Labels = {
      direction: l.direction,
      src_namespace: wellFormed(l.src.namespace),
      src_workload: wellFormed(l.src.workload),
      src_service_account: wellFormed(l.src.serviceAccount),
      dst_namespace: wellFormed(l.dst.namespace),
      dst_service: wellFormed(l.dst.service),
      route: wellFormed(l.route),
    };
    const id = Object.values(labels).join('\u0000');
    let rs = this.byLabels.get(id);
    if (rs === undefined) {
      rs = new RouteSeries(labels);
      this.byLabels.set(id, rs);
    }
    return rs;
  }

  values(): IterableIterator<RouteSeries> {
    return this.byLabels.values();
  }
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
    // A reason literally named "other" is the overflow id: one label value, one id.
    if (reason === 'other' || this.names.length >= REASON_SLOTS - 1) return REASON_SLOTS - 1;
    this.ids.set(reason, this.names.length);
    this.names.push(wellFormed(reason));
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
  /** The RouteSeries this recorder has used (each once; they may be shared with other recorders). */
  readonly all: RouteSeries[] = [];

  constructor(
    readonly direction: Direction,
    readonly src: Peer,
    readonly dst: Destination,
    private readonly budget: SeriesBudget,
    private readonly reasons: ReasonTable,
    /** Shared by every recorder of one ProxyMetrics (what the scrape exports). */
    private readonly table: RouteSeriesTable = new RouteSeriesTable(),
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
        const grpc = grpcSlot === 0 ? '' : grpcSlot === GRPC_SLOTS - 1 ? 'other' : String(grpcSlot - 1);
        const made = rs.intern(METHOD_NAMES[method]!, String(status), grpc, this.reasons.name(reasonId));
        // A key whose labels another key (or the overflow) already has shares that series for free.
        if (made.created) this.budget.left--;
        s = made.series;
        rs.series.set(key, s);
      } else {
        // Not cached under `key`: past the budget the key space must not grow the map.
        s = overflowSeries(rs, status);
      }
    }
    s.add(r.durationMs / 1000);
  }

  private routeSeries(route: string, backend: string): RouteSeries {
    const dst = backend === '' ? this.dst : destinationOfCluster(backend);
    const rs = this.table.get({ direction: this.direction, src: this.src, dst, route });
    if (!this.all.includes(rs)) this.all.push(rs);
    return rs;
  }
}

/** The folded series of a status class, once the listener's series budget is spent. */
function overflowSeries(rs: RouteSeries, status: number): RequestSeries {
  const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
  let s = rs.overflow[cls];
  if (s === undefined) {
    // Interned like any series: status 0 folds to labels a real series may already have.
    s = rs.intern('other', cls === 0 ? '0' : `${cls}xx`, 'other', 'other').series;
    rs.overflow[cls] = s;
  }
  return s;
}
