/**
 * Services declared by label selector (mesh file `spec.services`, e.g. version subsets for a
 * canary) have no proxy of their own: a request routed to `catalog-v1` is served by replicas
 * whose proxies count it under their workload's service (`catalog`). So a selector service's
 * traffic as served is what the proxies of its matching workloads served.
 */
import type { ServiceView, WorkloadView } from '../../api/registry.js';
import type { Labels } from '../../telemetry/golden/parse.js';
import { selects } from '../registry/selectors.js';

export interface SelectorService {
  namespace: string;
  name: string;
  /** `<ns>/<workload>` of every workload its selector matches. */
  workloads: ReadonlySet<string>;
  /** `<ns>/<service>` when every matching workload serves that one service. */
  subsetOf?: string;
}

/** The selector services among `services`, with the workloads they select now. */
export function selectorServices(services: readonly ServiceView[], workloads: readonly WorkloadView[]): SelectorService[] {
  const out: SelectorService[] = [];
  for (const s of services) {
    if (s.selector === undefined) continue;
    const matching = workloads.filter((w) => selects(s.selector!, w, s.namespace));
    const served = new Set(matching.map((w) => `${w.namespace}/${w.service}`));
    const sel: SelectorService = { namespace: s.namespace, name: s.name, workloads: new Set(matching.map((w) => `${w.namespace}/${w.name}`)) };
    if (served.size === 1) sel.subsetOf = [...served][0]!;
    out.push(sel);
  }
  return out;
}

/** Row function for aggregate(): '' for inbound series scraped from a proxy of one of `workloads`. */
export function servedByWorkloads(workloads: ReadonlySet<string>): (labels: Labels, target: Labels) => string | null {
  return (l, t) => (l.direction === 'inbound' && workloads.has(`${t.trellis_namespace ?? ''}/${t.trellis_workload ?? ''}`) ? '' : null);
}
