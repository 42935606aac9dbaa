/** The states every view shares: loading, failed, empty (with what to do), collecting. */
import type { ComponentChildren } from 'preact';

export function Loading({ what }: { what: string }) {
  return (
    <div class="notice notice-muted" data-testid="loading">
      Loading {what}…
    </div>
  );
}

export function ErrorNotice({ error, stale }: { error: Error; stale?: boolean }) {
  return (
    <div class="notice notice-error" role="alert" data-testid="error">
      <strong>Could not load.</strong> {error.message}
      {stale === true ? <span class="muted"> Showing the last data received.</span> : null}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="notice notice-empty" data-testid="empty">
      <strong>{title}</strong>
      {children !== undefined ? <div class="muted">{children}</div> : null}
    </div>
  );
}

export function Collecting() {
  return (
    <div class="notice notice-muted" data-testid="collecting">
      Collecting… the control plane needs two scrapes of every proxy before it can show rates (a few seconds).
    </div>
  );
}

/** Error, loading or nothing, for a polled value; renders children once there is data. */
export function PollState<T>({ polled, what, children }: { polled: { data: T | undefined; error: Error | undefined; loading: boolean }; what: string; children: (data: T) => ComponentChildren }) {
  return (
    <>
      {polled.error !== undefined ? <ErrorNotice error={polled.error} stale={polled.data !== undefined} /> : null}
      {polled.loading ? <Loading what={what} /> : null}
      {polled.data !== undefined ? children(polled.data) : null}
    </>
  );
}
