import { TrellisError } from '../errors.js';

/** One problem in a mesh file, with the place it is about. */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** `spec.workloads[1].ports[0].protocol`; empty for the document itself or a YAML syntax error. */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return i.path === '' ? `${i.file}:${i.line}:${i.col}: ${i.message}` : `${i.file}:${i.line}:${i.col}: ${i.path}: ${i.message}`;
}

/**
 * A mesh file that failed to load. `where` and `message` are the first issue; every further
 * issue follows on its own line in `message`, formatted like the first with describe().
 */
export class ConfigError extends TrellisError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const [first, ...rest] = issues as [ConfigIssue, ...ConfigIssue[]];
    const where = first.path === '' ? `${first.file}:${first.line}:${first.col}` : `${first.file}:${first.line}:${first.col}: ${first.path}`;
    super('TRELLIS_E_CONFIG', [first.message, ...rest.map(formatIssue)].join('\n'), { where });
    this.issues = issues;
  }
}
