import { ExitCode, TrellisError, type TrellisErrorCode } from '../errors.js';

/** Where a command writes and what it may read of its environment (replaced in tests). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
  env: Record<string, string | undefined>;
}

export const processIo = (): Io => ({
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  cwd: process.cwd(),
  env: process.env,
});

/** One `trellis` sub-command: its usage text and what it does. Returns the exit code. */
export interface Command {
  name: string;
  usage: string;
  run(argv: string[], io: Io): Promise<number>;
}

const EXIT_BY_CODE: Partial<Record<TrellisErrorCode, number>> = {
  TRELLIS_E_CONFIG: ExitCode.Config,
  TRELLIS_E_USAGE: ExitCode.Usage,
  TRELLIS_E_CONTROL_PLANE_UNREACHABLE: ExitCode.Unreachable,
  TRELLIS_E_NOT_FOUND: ExitCode.NotFound,
};

export function exitCodeFor(err: TrellisError): number {
  return EXIT_BY_CODE[err.code] ?? ExitCode.Failure;
}

/** A bad command line; the CLI prints the message and the command's usage on stderr, exit 2. */
export class UsageError extends TrellisError {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super('TRELLIS_E_USAGE', message);
  }
}
