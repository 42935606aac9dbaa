/**
 * Identities apps cannot steal (issue 11, Part 3), tried the way it was found: a workload's app
 * reads the mesh's state directory and asks the control plane for a bootstrap token for another
 * service and for the control plane's identity. With the agent running as root, the app runs as
 * the dedicated `trellis-app` user: it can read none of the credentials, inherits no CLI token,
 * and the control plane refuses it. A second workload that the mesh file explicitly runs as root
 * is the control: it CAN read the CA key (so the paths tried are the right ones), `up` warns
 * about it, and still the control plane issues it no identity that its agent may not run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { TRUST_DOMAIN } from '../helpers/meshes.js';
import { freePort } from '../helpers/proc.js';

interface Attempts {
  uid: number;
  env: string[];
  caKey: { ok: boolean; code?: string };
  agentToken: { ok: boolean; code?: string };
  adminToken: { ok: boolean; code?: string };
  listing: { ok: boolean; code?: string };
  otherService: { status: number; body: string };
  controlPlane: { status: number; body: string };
}

const isRoot = process.getuid?.() === 0;

describe('apps cannot steal identities', { skip: isRoot ? false : 'needs root: the agent switches apps to another user only as root' }, () => {
  let mesh: Mesh | undefined;
  let agent: Agent;
  let thiefPort: number;
  let insiderPort: number;

  before(async () => {
    agent = httpAgent();
    const apiPort = await freePort();
    thiefPort = await freePort();
    insiderPort = await freePort();
    const workload = (name: string, port: number, user: string): string => `
    - name: ${name}
      command: [node, identity-thief.mjs]${user}
      env:
        THIEF_STATE_DIR: state
        THIEF_API_URL: http://127.0.0.1:${apiPort}
        THIEF_TRUST_DOMAIN: ${TRUST_DOMAIN}
        THIEF_AGENT_ID: ${hostname()}
      ports: [{ name: http, protocol: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }`;
    const caller = (port: number, target: string): string => `
    - name: caller-${target}
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]
      upstreams: [{ service: ${target}, port: http, listen: 127.0.0.1:${port} }]`;
    const yaml = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-app-identity }
spec:
  trustDomain: ${TRUST_DOMAIN}
  controlPlane: { api: 127.0.0.1:${apiPort}, push: 127.0.0.1:0 }
  workloads:${workload('thief', thiefPort, '')}${workload('insider', insiderPort, '\n      user: root')}${caller(thiefPort, 'thief')}${caller(insiderPort, 'insider')}
`;
    // startMesh's state dir is <mesh folder>/state: inside the apps' working directory, as `up`'s
    // .trellis is. The shell that runs up has a CLI token in its environment.
    mesh = await startMesh({ meshYaml: yaml, openToOthers: true, env: { ...process.env, TRELLIS_TOKEN: 'inherited-admin-token' } });
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  async function attemptsOf(port: number): Promise<Attempts> {
    const res = await request(`http://127.0.0.1:${port}/attempts`, { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    return (await res.body.json()) as Attempts;
  }

  it('the app runs as trellis-app and reads none of the mesh credentials', async () => {
    assert.ok(mesh);
    assert.ok(existsSync(join(mesh.stateDir, 'ca', 'root.key')), 'the CA key is where the app looks for it');
    const appUid = Number(execFileSync('id', ['-u', 'trellis-app'], { encoding: 'utf8' }).trim());
    const a = await attemptsOf(thiefPort);
    assert.equal(a.uid, appUid);
    assert.notEqual(a.uid, 0);
    for (const what of ['caKey', 'agentToken', 'adminToken', 'listing'] as const) {
      assert.equal(a[what].ok, false, `${what} was readable`);
      assert.equal(a[what].code, 'EACCES', `${what}: ${JSON.stringify(a[what])}`);
    }
    assert.deepEqual(a.env, [], 'the CLI token of the shell that ran up is not passed to apps');
  });

  it('the control plane gives the app no bootstrap token, for another service or for the control plane', async () => {
    const a = await attemptsOf(thiefPort);
    assert.equal(a.otherService.status, 401, a.otherService.body);
    assert.equal(a.controlPlane.status, 401, a.controlPlane.body);
  });

  it('control: an app the mesh file runs as root reads the CA key, up says so, and the control plane still refuses identities its agent may not run', async () => {
    assert.ok(mesh);
    const a = await attemptsOf(insiderPort);
    assert.equal(a.uid, 0);
    assert.equal(a.caKey.ok, true);
    assert.equal(a.agentToken.ok, true);
    // With the agent's own credential: refused, because no workload of this agent is `victim`,
    // and trellis-system identities are never issued.
    assert.equal(a.otherService.status, 403, a.otherService.body);
    assert.equal(a.controlPlane.status, 403, a.controlPlane.body);
    assert.match(mesh.output().stderr, /warning: workload insider runs as root \(user: root\)/);
    assert.doesNotMatch(mesh.output().stderr, /workload thief runs as root/);
  });
});
