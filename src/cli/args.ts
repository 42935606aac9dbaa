import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * node:util parseArgs, strict, with `--help`/`-h` added; any parse error becomes a UsageError
 * carrying the command's usage. Returns null when help was asked for (already printed).
 */
export function parse(argv: string[], options: Options, usage: string, out: (t: string) => void, maxPositionals: number): Parsed | null {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), usage);
  }
  if (parsed.values.help === true) {
    out(usage);
    return null;
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument: ${parsed.positionals[maxPositionals] ?? ''}`, usage);
  }
  return { values: parsed.values as Parsed['values'], positionals: parsed.positionals };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A flag whose value must be one of `choices`. */
export function choice<T extends string>(p: Parsed, name: string, choices: readonly T[], fallback: T, usage: string): T {
  const v = str(p, name);
  if (v === undefined) return fallback;
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')} (got "${v}")`, usage);
  return v as T;
}
