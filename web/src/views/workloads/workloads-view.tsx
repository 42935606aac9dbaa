/**
 * Every replica's identity, certificate expiry and config version: the view to answer "is
 * this proxy who it should be, and is it running the config I applied?"
 */
import type { WorkloadStatusView } from '../../../../src/api/stats.js';
import { api } from '../../lib/api-client.js';
import { formatRelativeSeconds, type Health } from '../../lib/format.js';
import { href } from '../../lib/route.js';
import { usePoll } from '../../lib/use-poll.js';
import { StateBadge } from '../../components/health.js';
import { Empty, PollState } from '../../components/notice.js';

/** Under a day of certificate left is amber (rotation runs at half-life, so this means it is stuck), under an hour red. */
const CERT_WARN_SECONDS = 86_400 / 2;
const CERT_BAD_SECONDS = 3600;

export function WorkloadsView() {
  const status = usePoll((signal) => api.workloadStatus(signal), []);
  return (
    <section class="view" data-testid="view-workloads">
      <header class="view-head">
        <h1>Workloads</h1>
        <span class="muted">one row per replica: its proxy's identity, certificate and config</span>
      </header>
      <PollState polled={status} what="workloads">
        {(rows) => (rows.length === 0 ? <Empty title="No workloads registered.">Start a mesh with <code>trellis up &lt;dir&gt;</code>; its agent reports the workloads.</Empty> : <WorkloadTable rows={rows} />)}
      </PollState>
    </section>
  );
}

function WorkloadTable({ rows }: { rows: WorkloadStatusView[] }) {
  const sorted = [...rows].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.workload.localeCompare(b.workload) || a.replica - b.replica);
  return (
    <table class="table" data-testid="workload-table">
      <thead>
        <tr>
          <th>Workload</th>
          <th>State</th>
          <th>Identity (SPIFFE ID)</th>
          <th>Certificate</th>
          <th>Config</th>
          <th>mTLS</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {sorted.map((w) => (
          <tr key={w.nodeId} data-testid="workload-row" data-node-id={w.nodeId} data-identity={w.identity} data-cert-not-after={w.certNotAfter ?? ''}>
            <td>
              <strong>{w.workload}</strong>
              <span class="muted">/{w.replica}</span> <span class="muted small">{w.ingress ? 'ingress' : `serves ${w.service}`}</span>
            </td>
            <td>
              <StateBadge state={w.connected ? w.state : `${w.state}, proxy offline`} tone={stateTone(w)} />
            </td>
            <td class="mono small" data-testid="workload-identity">
              {w.identity}
            </td>
            <td data-testid="workload-cert">
              <CertCell w={w} />
            </td>
            <td>
              <ConfigCell w={w} />
            </td>
            <td data-testid="workload-mtls">
              <MtlsCell w={w} />
            </td>
            <td>
              <a href={href('tap', [], { workload: `${w.namespace}/${w.workload}` })}>tap</a>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Each port's mode, with a PERMISSIVE port's plaintext callers (none on every replica for a
 * while: STRICT is safe), and the plaintext bypass: an app listening beyond loopback is
 * reachable without mTLS (red), unless the agent's nftables rules drop its port (amber).
 */
function MtlsCell({ w }: { w: WorkloadStatusView }) {
  const ports = w.ports ?? [];
  const exposed = w.exposed ?? [];
  return (
    <span>
      {ports.map((p) => (
        <div key={p.name} class="small" data-testid="workload-port-mode" data-port={p.name} data-mode={p.mtls}>
          {p.name}: {p.mtls === 'STRICT' ? <span class="muted">STRICT</span> : <span class="text-warn">PERMISSIVE</span>}
          {p.mtls === 'PERMISSIVE' ? (
            <span class="muted" title="plaintext connections since the proxy started">
              {' '}
              · {p.plaintextConnections === null ? '–' : p.plaintextConnections} plaintext
            </span>
          ) : null}
        </div>
      ))}
      {exposed.map((e) => (
        <div
          key={e.address}
          class={`small ${e.closed ? 'text-warn' : 'text-bad'}`}
          data-testid="workload-bypass"
          title={e.closed ? "the agent's nftables rules let only loopback reach this port" : 'reachable without its proxy: no mTLS, no policy (see trellis check)'}
        >
          app on {e.address}: {e.closed ? 'closed by nftables' : 'reachable without mTLS'}
        </div>
      ))}
    </span>
  );
}

function stateTone(w: WorkloadStatusView): Health {
  if (!w.connected || w.state === 'crashed' || w.state === 'unhealthy') return 'bad';
  if (w.state === 'ready') return 'ok';
  return 'warn';
}

function CertCell({ w }: { w: WorkloadStatusView }) {
  if (w.certNotAfter === null || w.certExpiresInSeconds === null) return <span class="muted">no certificate yet</span>;
  const s = w.certExpiresInSeconds;
  const tone = s < CERT_BAD_SECONDS ? 'bad' : s < CERT_WARN_SECONDS ? 'warn' : 'ok';
  return (
    <span title={`not after ${w.certNotAfter}`}>
      <span class={`dot dot-${tone}`} /> expires {formatRelativeSeconds(s)}
      <div class="muted small">{new Date(w.certNotAfter).toLocaleString()}</div>
    </span>
  );
}

function ConfigCell({ w }: { w: WorkloadStatusView }) {
  if (w.nack !== null) {
    return (
      <span class="text-bad" title={w.nack.error}>
        v{w.nack.version} refused: {w.nack.error}
      </span>
    );
  }
  if (w.configVersion === null) return <span class="muted">no config yet</span>;
  const inSync = w.ackedVersion === w.configVersion;
  return (
    <span>
      v{w.configVersion} {inSync ? <span class="muted">in sync</span> : <span class="text-warn">applying (acked v{w.ackedVersion ?? '–'})</span>}
    </span>
  );
}
