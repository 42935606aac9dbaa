/** Tracing library: propagation, sampling, span records, OTLP/HTTP JSON export and receipt. See docs/tracing.md. */
export { extract, extractFromRecord, formatsFor, formatTraceparent, inject, MAX_TRACESTATE_LENGTH, parseB3Single, parseTraceparent, TRACE_HEADERS } from './context.js';
export type { OutgoingTraceContext, TraceContext, TraceFormat, Traceparent } from './context.js';
export { createIdGenerator, randomIds, type IdGenerator } from './ids.js';
export { parentBasedSampler, traceIdRatio, type Sampler } from './sampler.js';
export { epochMsToNs, httpSpan, targetPath, tcpSpan } from './span.js';
export type { AttributeValue, HttpSpanInput, SpanKind, SpanRecord, SpanStatus, TcpSpanInput } from './span.js';
export { beginHop, hopHeaders, type Hop } from './hop.js';
export { encodeTraces, OTLP_TRACES_PATH, type OtlpResource, type OtlpTracesRequest } from './otlp.js';
export { OtlpHttpExporter, type ExporterStats, type OtlpExporterOptions } from './exporter.js';
export { DEFAULT_RECEIVER_LIMITS, OtlpTraceReceiver, type ReceivedSpan, type ReceiverLimits, type ReceiveResult } from './receiver.js';
export { TraceStore, type TraceSummary } from './trace-store.js';
