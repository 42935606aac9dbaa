import { resolve } from 'node:path';
import { parse, str } from '../args.js';
import { UsageError, type Command } from '../io.js';
import { onSignals, onStdinClose } from '../lifecycle.js';

const usage = `Usage: trellis proxy --bootstrap FILE [--exit-on-stdin-close]

Runs one proxy from a bootstrap file (the agent writes it and starts the proxy).
SIGTERM or SIGINT: drain in-flight requests, then exit 0; a second signal exits at once.

Options:
  --bootstrap FILE         ProxyBootstrap JSON (src/api/bootstrap.ts)
  --exit-on-stdin-close    drain and exit when stdin closes (the agent is gone)
  -h, --help               this text
`;

export const proxyCommand: Command = {
  name: 'proxy',
  usage,
  async run(argv, io) {
    const p = parse(argv, { bootstrap: { type: 'string' }, 'exit-on-stdin-close': { type: 'boolean' } }, usage, io.out, 0);
    if (p === null) return 0;
    const file = str(p, 'bootstrap');
    if (file === undefined) throw new UsageError('--bootstrap is required', usage);
    const { runProxy } = await import('../../proxy/main.js');
    const proxy = await runProxy(resolve(io.cwd, file));
    return new Promise<number>((done) => {
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        proxy
          .drain()
          .then(() => proxy.close())
          .then(
            () => done(0),
            (err: unknown) => {
              io.err(`trellis: proxy stop failed: ${String(err)}\n`);
              done(1);
            },
          );
      };
      onSignals(stop, () => done(1));
      if (p.values['exit-on-stdin-close'] === true) onStdinClose(stop);
    });
  },
};
