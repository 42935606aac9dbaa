/** One problem of a snapshot, at a field path such as `clusters[2].routes.routes[0].rules[1]`. */
export interface SnapshotProblem {
  path: string;
  message: string;
}

/** A snapshot that cannot be applied (bad route table or policy); nothing of it was applied. */
export class SnapshotError extends Error {
  readonly errors: SnapshotProblem[];

  constructor(errors: SnapshotProblem[]) {
    super(`snapshot rejected: ${errors.length} problem${errors.length === 1 ? '' : 's'}`);
    this.name = 'SnapshotError';
    this.errors = errors;
  }
}
