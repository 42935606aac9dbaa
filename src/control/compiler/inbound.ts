import type { Resource } from '../../api/resources.js';
import type { InboundPolicyConfig } from '../../api/snapshot.js';
import { inboundPolicyFor } from '../policy/inbound-policy.js';
import { DependencyIndex } from './dependency-index.js';
import { inputKey, type CompileInputs } from './inputs.js';
import { RecordingMap } from './recording-map.js';

/** One workload's inbound policy as compiled for its proxies' snapshots. */
export interface BuiltInbound {
  /**
   * `ProxySnapshot.inbound`, or null when there is nothing to enforce (no policy applies and
   * every port's default is allow): the snapshot then leaves `inbound` out, which the proxy
   * reads the same way, and meshes without policies keep the snapshot hashes they had.
   */
  readonly config: InboundPolicyConfig[] | null;
  /** JSON.stringify(config), or null with it. */
  readonly json: string | null;
  /** What inboundPolicyFor had to say (a policy with no effect...), for `trellis why` and the log. */
  readonly warnings: readonly string[];
}

const NOTHING: BuiltInbound = { config: null, json: null, warnings: [] };

/**
 * The inbound policies of every workload (one per agent that reports it: `workloadKey`), built
 * once and kept until an input they read changes, as CompileContext keeps clusters. What a
 * workload's policy reads is recorded while it is built: its own facts (`wl:`), the policies
 * that can apply to each service it serves (`inpolicy:`) and, for global rate limits, the
 * ready replicas of the target service (`ready:`). So an AuthorizationPolicy change recompiles
 * the proxies of the workloads behind the services it targets, and nothing else.
 */
export class InboundCompiler {
  private readonly built = new Map<string, BuiltInbound>();
  /** Items are workload keys. */
  private readonly index = new DependencyIndex();

  constructor(
    private inputs: CompileInputs,
    /** Called when a workload's policy is (re)built with warnings (the control plane logs them). */
    private readonly onWarnings: (workloadKey: string, warnings: readonly string[]) => void = () => {},
  ) {}

  /** Moves to the next state of the inputs; returns the workload keys whose policy must be rebuilt. */
  update(inputs: CompileInputs, changed: Iterable<string>): Set<string> {
    this.inputs = inputs;
    const dropped = this.index.dependents(changed);
    for (const key of dropped) {
      this.index.remove(key);
      this.built.delete(key);
    }
    return dropped;
  }

  /** Drops a workload no node belongs to any more. */
  forget(key: string): void {
    this.index.remove(key);
    this.built.delete(key);
  }

  /** True when `key`'s policy is not built (new, or dropped by `update`). */
  stale(key: string): boolean {
    return !this.built.has(key);
  }

  get(key: string): BuiltInbound {
    let b = this.built.get(key);
    if (b === undefined) {
      const read = new Set<string>();
      b = this.build(key, read);
      this.built.set(key, b);
      if (b.warnings.length > 0) this.onWarnings(key, b.warnings);
      this.index.set(key, read);
    }
    return b;
  }

  /** Workloads kept (tests). */
  get size(): number {
    return this.built.size;
  }

  private build(key: string, read: Set<string>): BuiltInbound {
    read.add(inputKey.workload(key));
    const w = this.inputs.workload(key);
    // An ingress gateway has no inbound listeners; a workload without ports has nothing to guard.
    if (w === undefined || w.ingress || w.ports.length === 0) return NOTHING;
    const resources = new Set<Resource>();
    for (const s of w.services) {
      const svc = `${w.namespace}/${s}`;
      read.add(inputKey.inboundPolicy(svc));
      for (const r of this.inputs.inboundResources(svc)) resources.add(r);
    }
    const result = inboundPolicyFor({
      resources: [...resources],
      services: new RecordingMap(this.inputs.services, inputKey.service, read),
      workload: { namespace: w.namespace, services: w.services, ports: w.ports },
      meshDefaultAction: this.inputs.global.meshDefaultAction ?? 'allow',
      readyReplicas: (svc) => {
        read.add(inputKey.ready(svc));
        return this.inputs.readyReplicas(svc);
      },
    });
    const enforcesNothing = result.inbound.every((p) => p.defaultAction === 'allow' && p.authorization.length === 0 && p.rateLimits.length === 0);
    if (enforcesNothing) return result.warnings.length === 0 ? NOTHING : { ...NOTHING, warnings: result.warnings };
    return { config: result.inbound, json: JSON.stringify(result.inbound), warnings: result.warnings };
  }
}
