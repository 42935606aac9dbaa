/** How one tap row and the tap's status badge read. Pure, so Node tests can run it. */
import { grpcStatusName, isFailure } from '../../../../src/telemetry/tap-status.js';
import type { Health } from '../../lib/format.js';
import type { TapStatus } from './tap-state.js';

/**
 * `row-bad` for a failure as `trellis stat` counts it (5xx, no status, or a gRPC call whose
 * grpc-status is not OK, which arrives in a 200), `row-warn` for 4xx.
 */
export function rowClass(status: number, grpcStatus?: number): string {
  if (isFailure(status, grpcStatus)) return 'row-bad';
  if (status >= 400) return 'row-warn';
  return '';
}

/** The gRPC cell beside the status: `UNAVAILABLE (14)`; empty for anything but gRPC. */
export function grpcText(grpcStatus: number | undefined): string {
  return grpcStatus === undefined ? '' : `${grpcStatusName(grpcStatus)} (${grpcStatus})`;
}

/** The status cell: the code, or `none` when the exchange died before a status. */
export function statusText(status: number): string {
  return status === 0 ? 'none' : String(status);
}

/** `status-2xx` … `status-5xx`; `status-0xx` for no status. */
export function statusClass(status: number): string {
  return `status-${Math.floor(status / 100)}xx`;
}

export function tapBadge(status: TapStatus, proxies: number): { text: string; tone: Health } {
  const text = status === 'live' ? `live · ${proxies} prox${proxies === 1 ? 'y' : 'ies'}` : status;
  const tone: Health = status === 'live' ? 'ok' : status === 'error' ? 'bad' : 'idle';
  return { text, tone };
}
