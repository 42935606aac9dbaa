/**
 * `hosts:` placement with the real CLI on one machine: `trellis agent --host <name>` runs only
 * what the mesh file places on that host, with mesh-wide replica numbers (so node ids never
 * collide between hosts), reports it under its host name, and says so when nothing is placed on it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WorkloadView } from '../../src/api/registry.js';
import { cliEntry } from '../../src/util/paths.js';
import { startControlPlane, writeMeshDir, type ControlPlaneProcess, type MeshDir } from '../helpers/mesh.js';
import { freePorts, waitFor } from '../helpers/proc.js';

const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-placement }
spec:
  workloads:
    - name: spread
      hosts: [h0, h1]
      replicas: 2
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
    - name: elsewhere
      hosts: [h0]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
`;

interface RunningAgent {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
}

function agent(md: MeshDir, apiUrl: string, host: string): RunningAgent {
  const child = spawn(process.execPath, [cliEntry, 'agent', md.dir, '--control-plane', apiUrl, '--state-dir', join(md.dir, `state-${host}`), '--host', host], { cwd: md.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, stdout: () => out, stderr: () => err };
}

async function stop(a: RunningAgent | undefined): Promise<void> {
  if (a === undefined || a.child.exitCode !== null) return;
  const exited = new Promise((r) => a.child.once('exit', r));
  a.child.kill('SIGTERM');
  await exited;
}

describe('hosts: placement by the agent\'s host name', () => {
  let md: MeshDir | undefined;
  let cp: ControlPlaneProcess | undefined;
  let h1: RunningAgent | undefined;
  let nobody: RunningAgent | undefined;

  before(async () => {
    md = await writeMeshDir({ meshYaml: MESH });
    const [apiPort, pushPort] = (await freePorts(2)) as [number, number];
    cp = await startControlPlane({ cwd: md.dir, stateDir: md.stateDir, apiPort, pushPort });
  });

  after(async () => {
    await stop(h1);
    await stop(nobody);
    await cp?.kill('SIGTERM');
    await md?.cleanup();
  });

  it('runs only its share, numbered after the hosts before it, under its host name', async () => {
    await copyToken('state-h1');
    h1 = agent(md!, cp!.apiUrl, 'h1');
    await waitFor('the h1 agent ready', () => h1!.stdout().includes('ready agent=h1') || (h1!.child.exitCode !== null ? Promise.reject(new Error(h1!.stderr())) : false), { timeoutMs: 60_000 });
    const workloads = await cp!.api<WorkloadView[]>('/api/v1/workloads');
    assert.deepEqual(
      workloads.map((w) => ({ name: w.name, agent: w.agentId, replicas: w.replicas.map((r) => r.replica), nodes: w.replicas.map((r) => r.nodeId) })),
      [{ name: 'spread', agent: 'h1', replicas: [2, 3], nodes: ['default/spread/2', 'default/spread/3'] }],
      'h1 is second in [h0, h1]: replicas 2 and 3; `elsewhere` is h0\'s',
    );
  });

  it('an agent whose host is in no `hosts:` list runs nothing and says so', async () => {
    await copyToken('state-h9');
    nobody = agent(md!, cp!.apiUrl, 'h9');
    await waitFor('the h9 agent ready', () => nobody!.stdout().includes('ready agent=h9') || (nobody!.child.exitCode !== null ? Promise.reject(new Error(nobody!.stderr())) : false), { timeoutMs: 60_000 });
    assert.match(nobody.stderr(), /nothing in \S+trellis\.yaml runs on host "h9" \(hosts it names: h0, h1\); see --host/);
  });

  /** The agent reads the control plane's token from its own state dir (today's enrolment). */
  async function copyToken(dir: string): Promise<void> {
    await mkdir(join(md!.dir, dir), { recursive: true });
    await copyFile(join(md!.stateDir, 'agent-token'), join(md!.dir, dir, 'agent-token'));
  }
});
