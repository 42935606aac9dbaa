import type { TracingConfig } from '../../api/snapshot.js';
import type { TracingSettings } from '../../config/types.js';
import { DEFAULT_TRACE_SAMPLING } from '../../config/schema.js';
import { OTLP_TRACES_PATH } from '../../telemetry/tracing/otlp.js';

/** What the control plane traces with when nobody configured it: 1% of new traces, to itself. */
export const DEFAULT_TRACING: TracingSettings = { samplingRatio: DEFAULT_TRACE_SAMPLING, collector: null };

/**
 * The `tracing` block every proxy snapshot carries: the configured collector, else this
 * control plane's own `/v1/traces` at its bound API URL. A wildcard listen address is
 * replaced by loopback, since proxies run beside the control plane and cannot dial 0.0.0.0
 * portably. null settings (tracing off) -> undefined: snapshots carry no tracing.
 */
export function snapshotTracing(settings: TracingSettings | null, apiUrl: string, controlPlaneOrigins: readonly string[] = []): TracingConfig | undefined {
  if (settings === null) return undefined;
  if (settings.collector !== undefined && settings.collector !== null) {
    // A collector that is a control plane's own API (a replica named by --trace-collector, the
    // same on every replica over etcd) is verified as the control plane, like the default one.
    const own = controlPlaneOrigins.includes(originOf(settings.collector));
    return { endpoint: settings.collector, samplingRatio: settings.samplingRatio, ...(own ? { controlPlane: true } : {}) };
  }
  return { endpoint: `${dialable(apiUrl)}${OTLP_TRACES_PATH}`, samplingRatio: settings.samplingRatio, controlPlane: true };
}

function dialable(apiUrl: string): string {
  const u = new URL(apiUrl);
  if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
  else if (u.hostname === '[::]') u.hostname = '[::1]';
  // URL keeps a trailing "/" on an empty path; the traces path is appended after it.
  return u.origin;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}
