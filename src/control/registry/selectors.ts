import type { SelectorServiceReport, WorkloadReport } from '../../api/registry.js';

/** The label every workload carries implicitly: the service it serves. */
export const APP_LABEL = 'app';

/** A workload's labels as selectors see them: its own, with `app: <service>` always set. */
export function workloadLabels(w: Pick<WorkloadReport, 'service' | 'labels'>): Record<string, string> {
  return { ...w.labels, [APP_LABEL]: w.service };
}

/**
 * True when every selector pair is among the workload's labels. An ingress gateway serves no
 * service, so no selector picks it; an empty selector picks nothing (it would pick everything).
 */
export function selects(selector: Record<string, string>, w: Pick<WorkloadReport, 'service' | 'labels' | 'ingress' | 'namespace'>, namespace: string): boolean {
  if (w.ingress || w.namespace !== namespace) return false;
  const entries = Object.entries(selector);
  if (entries.length === 0) return false;
  const labels = workloadLabels(w);
  return entries.every(([k, v]) => labels[k] === v);
}

/** `namespace/name` of a declared service. */
export function selectorServiceKey(s: Pick<SelectorServiceReport, 'namespace' | 'name'>): string {
  return `${s.namespace}/${s.name}`;
}
