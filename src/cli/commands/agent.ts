import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Agent } from '../../agent/agent.js';
import { apiUrlList } from '../../agent/client.js';
import { loadMeshFile } from '../../config/load.js';
import type { ControlPlaneCredential } from '../../agent/credentials/credential.js';
import { joinOrResume, readJoinToken, resumeHost } from '../../agent/credentials/join.js';
import { TrellisError } from '../../errors.js';
import { systemClock } from '../../util/clock.js';
import { createLogger } from '../../util/log.js';
import { controlPlaneUrl } from '../api.js';
import { parse, str } from '../args.js';
import { UsageError, type Command } from '../io.js';
import { advertiseAddressProblem } from '../../agent/placement.js';
import { onSignals } from '../lifecycle.js';
import { parseLogLevel, proxyLevel } from './up.js';

const usage = `Usage: trellis agent [dir|file] [--join TOKEN|FILE] [--control-plane URL[,URL...]] [--state-dir D] [--advertise-address IP] [--host NAME] [--log-level L]

Runs the host agent alone against a running control plane: starts every workload of the
mesh file with its proxy and every ingress, reports them, restarts what crashes. Prints
\`ready agent=<id> ingress.<name>=<url> ...\` on stdout once all are ready. SIGINT/SIGTERM:
stop in order, exit 0.

On the control plane's own host the agent uses <state-dir>/agent-token. On another host,
--join enrols it once with a join token (\`trellis token create --host <name>\`): the token
pins the CA and names the control plane, the agent gets its own certificate
(spiffe://<td>/agent/<name>, kept in <state-dir>/host/ and renewed) and its agent id is that
host name. Later starts (with or without --join) use the saved certificate; the token is not
spent again. See docs/multi-host.md.

Options:
  --join TOKEN|FILE     join this host with a join token, given as is or in a file
  --control-plane URL   REST API (default: a joined host's saved addresses, else $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000).
                        Several control-plane replicas: URLs separated by commas; the agent moves to the next when one is unreachable
  --state-dir D         state directory (default ./.trellis): agent-token, or host/ once joined
  --advertise-address IP
                        this host's address that peers on other hosts dial: the proxies'
                        inbound mTLS listeners bind it and endpoints carry it (default
                        127.0.0.1: one host). Apps, outbound and admin listeners stay on loopback
  --host NAME           this host's name for the mesh file's \`hosts\` placement, and the
                        agent's id (default: the machine's host name)
  --log-level L         trace|debug|info|warn|error (default info)
  -h, --help            this text
`;

export const agentCommand: Command = {
  name: 'agent',
  usage,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        'control-plane': { type: 'string' },
        'state-dir': { type: 'string' },
        'log-level': { type: 'string' },
        join: { type: 'string' },
        'advertise-address': { type: 'string' },
        host: { type: 'string' },
      },
      usage,
      io.out,
      1,
    );
    if (p === null) return 0;
    const level = parseLogLevel(str(p, 'log-level'), usage);
    const advertiseAddress = str(p, 'advertise-address');
    const problem = advertiseAddress !== undefined ? advertiseAddressProblem(advertiseAddress) : null;
    if (problem !== null) throw new UsageError(`--advertise-address: ${problem}`, usage);
    const host = str(p, 'host');
    if (host !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) throw new UsageError(`--host must be a host name (letters, digits, "-" and "."), got "${host}"`, usage);
    const mesh = await loadMeshFile(resolve(io.cwd, p.positionals[0] ?? '.'));
    const stateDir = resolve(io.cwd, str(p, 'state-dir') ?? '.trellis');
    await mkdir(join(stateDir, 'logs'), { recursive: true });
    const logger = createLogger({ level, file: join(stateDir, 'logs', 'agent.log') });
    const joinArg = str(p, 'join');
    const ctx = { clock: systemClock, logger };
    const joined = joinArg !== undefined ? await joinOrResume(stateDir, await readJoinToken(joinArg, io.cwd), ctx) : await resumeHost(stateDir, ctx);
    if (joined !== null && joined.trustDomain !== mesh.trustDomain) {
      await joined.close();
      throw new TrellisError('TRELLIS_E_CONFIG', `the mesh file's trust domain "${mesh.trustDomain}" is not the control plane's "${joined.trustDomain}" (set spec.trustDomain in ${mesh.file})`);
    }
    if (joined !== null && host !== undefined && host !== joined.host) {
      await joined.close();
      throw new UsageError(`--host ${host}: this host joined the mesh as "${joined.host}" (its certificate names it); leave --host out or give that name`, usage);
    }
    const flag = str(p, 'control-plane');
    const urls = joined !== null && flag === undefined ? apiUrlList(joined.apiUrls) : apiUrlList(controlPlaneUrl(flag, io));
    const credential: ControlPlaneCredential | undefined = joined ?? undefined;
    const agent = new Agent({
      mesh,
      stateDir,
      controlPlaneUrl: urls,
      logger,
      proxyLogLevel: proxyLevel(level),
      ...(credential !== undefined ? { credential } : {}),
      ...(advertiseAddress !== undefined ? { advertiseAddress } : {}),
      ...(host !== undefined ? { host } : {}),
    });
    let finish: (code: number) => void = () => {};
    const finished = new Promise<number>((r) => (finish = r));
    let stopping = false;
    const remove = onSignals(
      () => {
        stopping = true;
        void agent.stop().then(() => finish(0));
      },
      () => {
        agent.kill();
        finish(130);
      },
    );
    try {
      await agent.start();
    } catch (err) {
      if (stopping) return await finished;
      remove();
      throw err;
    }
    if (agent.replicaCount === 0) {
      // Most likely a host name that is not in any `hosts:` list (a typo, or --host missing).
      const named = [...new Set([...mesh.workloads, ...mesh.ingress].flatMap((x) => x.hosts ?? []))];
      io.err(`trellis: nothing in ${mesh.file} runs on host "${agent.host ?? ''}" (hosts it names: ${named.join(', ') || 'none'}); see --host\n`);
    }
    io.out(['ready', `agent=${agent.agentId}`, ...agent.ingressUrls().map((i) => `ingress.${i.name}=${i.url}`)].join(' ') + '\n');
    const code = await finished;
    remove();
    return code;
  },
};
