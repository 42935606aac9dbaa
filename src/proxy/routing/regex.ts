// The regex safety rules are shared with apply-time validation (src/config/resources), so a
// pattern the control plane accepts is one every proxy compiles.
export { compileSafeRegex, MAX_REGEX_LENGTH } from '../../util/safe-regex.js';
export type { RegexResult } from '../../util/safe-regex.js';
