import { ConfigError, formatIssue } from '../config/issues.js';
import { ExitCode, TrellisError } from '../errors.js';
import { unreachableHint } from './control-plane-address.js';
import { takeGlobalOptions } from './credentials.js';
import { exitCodeFor, UsageError, type Command, type Io } from './io.js';

/** Commands load on use, so `trellis proxy` and `trellis get` start without the rest. */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: CommandEntry[] = [
  { name: 'up', summary: 'start a mesh from a mesh file (control plane, workloads, proxies)', load: async () => (await import('./commands/up.js')).upCommand },
  { name: 'get', summary: 'list services, workloads, endpoints, proxies, or routes and policies with status', load: async () => (await import('./commands/get.js')).getCommand },
  { name: 'apply', summary: 'create or update routes and policies from YAML (-f file|dir|-)', load: async () => (await import('./commands/apply.js')).applyCommand },
  { name: 'delete', summary: 'delete a route or policy', load: async () => (await import('./commands/delete.js')).deleteCommand },
  { name: 'proxy-config', summary: "show a proxy's running configuration", load: async () => (await import('./commands/proxy-config.js')).proxyConfigCommand },
  { name: 'stat', summary: 'success rate, RPS and latency per service, workload or route over a window', load: async () => (await import('./commands/stat.js')).statCommand },
  { name: 'edges', summary: 'who calls whom, with which identity (from the proxies\' metrics)', load: async () => (await import('./commands/edges.js')).edgesCommand },
  { name: 'why', summary: 'which route, backend and authorization decision a request would get, and why', load: async () => (await import('./commands/why.js')).whyCommand },
  { name: 'tap', summary: 'stream the requests proxies see, live (filter by direction, method, path, status)', load: async () => (await import('./commands/tap.js')).tapCommand },
  { name: 'top', summary: 'the busiest paths right now, from a live tap', load: async () => (await import('./commands/top.js')).topCommand },
  { name: 'prometheus-config', summary: 'print a prometheus.yml that scrapes every proxy', load: async () => (await import('./commands/prometheus-config.js')).prometheusConfigCommand },
  { name: 'token', summary: 'create, list and delete API tokens and join tokens for new hosts', load: async () => (await import('./commands/token.js')).tokenCommand },
  { name: 'check', summary: 'run the mesh health checks', load: async () => (await import('./commands/check.js')).checkCommand },
  { name: 'version', summary: 'print versions', load: async () => (await import('./commands/version.js')).versionCommand },
  { name: 'agent', summary: 'run the host agent against a running control plane', load: async () => (await import('./commands/agent.js')).agentCommand },
  { name: 'control-plane', summary: 'run the control plane in the foreground', load: async () => (await import('./commands/control-plane.js')).controlPlaneCommand },
  { name: 'proxy', summary: 'run one proxy (started by the agent)', load: async () => (await import('./commands/proxy.js')).proxyCommand },
];

export const MAIN_USAGE = `Usage: trellis <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(19)}${c.summary}`).join('\n')}

Global options:
  --token T      the API token to use (default: $TRELLIS_TOKEN, else <stateDir>/admin-token of the mesh found)
  --ca-file F    CA certificate to verify an https:// control plane (default: $TRELLIS_CA_FILE, else <stateDir>/ca/root.crt)
  --debug        print stack traces of unexpected errors
  -h, --help     help for trellis or for a command (trellis <command> --help)

Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid configuration, 4 control plane unreachable, 5 not found.
See docs/cli.md.
`;

/** Runs one CLI invocation; returns its exit code. Never throws. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const debug = argv.includes('--debug');
  let args: string[];
  try {
    // `trellis proxy` and `trellis agent` take their own files; the options are the CLI's as a client.
    args = takeGlobalOptions(argv.filter((a) => a !== '--debug'), io);
  } catch (err) {
    io.err(`trellis: ${(err as Error).message}\n\n${MAIN_USAGE}`);
    return ExitCode.Usage;
  }
  let [name, ...rest] = args; // eslint-disable-line prefer-const
  if (name === undefined) {
    io.err(MAIN_USAGE);
    return ExitCode.Usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const sub = COMMANDS.find((c) => c.name === rest[0]);
    io.out(sub !== undefined ? (await sub.load()).usage : MAIN_USAGE);
    return ExitCode.Ok;
  }
  if (name === '--version') name = 'version';
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    io.err(`trellis: unknown command "${name}"\n\n${MAIN_USAGE}`);
    return ExitCode.Usage;
  }
  try {
    const command = await entry.load();
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`trellis ${entry.name}: ${err.message}\n\n${err.usage}`);
      return ExitCode.Usage;
    }
    if (err instanceof ConfigError && err.issues.length > 1) {
      // One line per problem, each with its own file:line:col.
      for (const issue of err.issues) io.err(`trellis: ${formatIssue(issue)}\n`);
      return exitCodeFor(err);
    }
    if (err instanceof TrellisError) {
      io.err(`trellis: ${err.describe()}\n`);
      const hint = err.code === 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE' ? unreachableHint(io, err.message) : null;
      if (hint !== null) io.err(`trellis: ${hint}\n`);
      if (debug && err.cause !== undefined) io.err(`${String((err.cause as Error).stack ?? err.cause)}\n`);
      return exitCodeFor(err);
    }
    const e = err as Error;
    io.err(debug ? `trellis: unexpected error: ${String(e.stack ?? e)}\n` : `trellis: unexpected error: ${e.message ?? String(e)} (run with --debug for details)\n`);
    return ExitCode.Failure;
  }
}
