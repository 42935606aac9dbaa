/**
 * Routes and policies with their status conditions: a route that is not Accepted, or whose
 * backends do not resolve, shows red with the control plane's own message.
 */
import type { Condition, ResourceView } from '../../../../src/api/resources.js';
import { api } from '../../lib/api-client.js';
import { usePoll } from '../../lib/use-poll.js';
import { Empty, PollState } from '../../components/notice.js';

export function ResourcesView() {
  const resources = usePoll((signal) => api.resources(signal), [], 5000);
  return (
    <section class="view" data-testid="view-resources">
      <header class="view-head">
        <h1>Routes and policies</h1>
        <span class="muted">HTTPRoute, GRPCRoute, DestinationPolicy, FaultInjection, with their status</span>
      </header>
      <PollState polled={resources} what="resources">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No routes or policies applied.">
              Without routes every request goes to its service's endpoints. Apply one with <code>trellis apply -f route.yaml</code> (see docs/traffic.md).
            </Empty>
          ) : (
            <ResourceTable list={list} />
          )
        }
      </PollState>
    </section>
  );
}

function conditionsOf(r: ResourceView): Condition[] {
  return [...(r.status.conditions ?? []), ...(r.status.parents ?? []).flatMap((p) => p.conditions)];
}

function ResourceTable({ list }: { list: ResourceView[] }) {
  const sorted = [...list].sort((a, b) => a.kind.localeCompare(b.kind) || a.metadata.namespace.localeCompare(b.metadata.namespace) || a.metadata.name.localeCompare(b.metadata.name));
  return (
    <table class="table" data-testid="resource-table">
      <thead>
        <tr>
          <th>Kind</th>
          <th>Name</th>
          <th>Targets</th>
          <th>Status</th>
          <th class="num">Generation</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((r) => {
          const conditions = conditionsOf(r);
          const failing = conditions.filter((c) => c.status !== 'True');
          return (
            <tr key={`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`} data-testid="resource-row" data-kind={r.kind} data-name={`${r.metadata.namespace}/${r.metadata.name}`} class={failing.length > 0 ? 'row-bad' : ''}>
              <td>{r.kind}</td>
              <td>
                <strong>{r.metadata.name}</strong> <span class="muted">{r.metadata.namespace}</span>
              </td>
              <td class="small">{targets(r)}</td>
              <td>
                {conditions.length === 0 ? <span class="muted">no status</span> : null}
                {conditions.map((c) => (
                  <div key={c.type} class="condition" title={c.message}>
                    <span class={`dot dot-${c.status === 'True' ? 'ok' : c.status === 'False' ? 'bad' : 'warn'}`} /> {c.type}
                    {c.status !== 'True' ? <span class="text-bad small"> {c.reason}: {c.message}</span> : null}
                  </div>
                ))}
              </td>
              <td class="num">{r.metadata.generation ?? '–'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** What the resource applies to, from the fields every kind uses (parentRefs, targetRef). */
function targets(r: ResourceView): string {
  const spec = r.spec as { parentRefs?: { name?: string }[]; targetRef?: { name?: string }; rules?: { backendRefs?: { name?: string; weight?: number }[] }[] };
  const parents = (spec.parentRefs ?? []).map((p) => p.name ?? '?');
  if (spec.targetRef?.name !== undefined) parents.push(spec.targetRef.name);
  const backends = (spec.rules ?? []).flatMap((rule) => rule.backendRefs ?? []).map((b) => `${b.name ?? '?'}${b.weight !== undefined ? ` ${b.weight}` : ''}`);
  return `${parents.join(', ')}${backends.length > 0 ? ` → ${backends.join(', ')}` : ''}`;
}
