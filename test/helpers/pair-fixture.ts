/**
 * The setup most integration suites share: a client workload `a` and a server workload `b`
 * (test/helpers/meshes.ts), an HTTP agent, and a's outbound listener for b on a free port that
 * the test uses as "app a". Registers the suite's before/after hooks; read the fields in tests.
 */
import { after, before } from 'node:test';
import type { Agent } from 'undici';
import { httpAgent, startMesh, type Mesh } from './mesh.js';
import { pairMesh, type PairMeshOptions } from './meshes.js';
import { freePort } from './proc.js';

export interface PairMeshFixture {
  readonly mesh: Mesh;
  readonly agent: Agent;
  /** a's outbound listener for b. */
  readonly outPort: number;
}

/** Call inside a describe(): starts the mesh before its tests and stops it after them. */
export function usePairMesh(options: Omit<PairMeshOptions, 'outPort'>): PairMeshFixture {
  let mesh: Mesh | undefined;
  let agent: Agent | undefined;
  let outPort = 0;

  before(async () => {
    agent = httpAgent();
    outPort = await freePort();
    mesh = await startMesh({ meshYaml: pairMesh({ ...options, outPort }) });
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} used before the mesh started (call usePairMesh inside describe)`);
    return value;
  };
  return {
    get mesh() {
      return started(mesh, 'mesh');
    },
    get agent() {
      return started(agent, 'agent');
    },
    get outPort() {
      return outPort;
    },
  };
}
