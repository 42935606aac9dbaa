import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Agent } from '../../agent/agent.js';
import { loadMeshFile } from '../../config/load.js';
import { createLogger } from '../../util/log.js';
import { controlPlaneUrl } from '../api.js';
import { parse, str } from '../args.js';
import { UsageError, type Command } from '../io.js';
import { advertiseAddressProblem } from '../../agent/placement.js';
import { onSignals } from '../lifecycle.js';
import { parseLogLevel, proxyLevel } from './up.js';

const usage = `Usage: trellis agent [dir|file] [--control-plane URL] [--state-dir D] [--advertise-address IP] [--host NAME] [--log-level L]

Runs the host agent alone against a running control plane: starts every workload of the
mesh file with its proxy and every ingress, reports them, restarts what crashes. Prints
\`ready ingress.<name>=<url> ...\` on stdout once all are ready. SIGINT/SIGTERM: stop in
order, exit 0.

Options:
  --control-plane URL   REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  --state-dir D         state directory holding agent-token (default ./.trellis)
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
      { 'control-plane': { type: 'string' }, 'state-dir': { type: 'string' }, 'log-level': { type: 'string' }, 'advertise-address': { type: 'string' }, host: { type: 'string' } },
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
    const agent = new Agent({
      mesh,
      stateDir,
      controlPlaneUrl: controlPlaneUrl(str(p, 'control-plane'), io),
      logger,
      proxyLogLevel: proxyLevel(level),
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
