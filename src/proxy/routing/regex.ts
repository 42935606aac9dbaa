// One compile function for route regexes, shared with apply-time validation
// (src/config/resources), so a pattern the control plane accepts is one every proxy compiles.
export { compileRouteRegex, MAX_PROGRAM_SIZE, MAX_REGEX_LENGTH } from '../../util/route-regex.js';
export type { RegexResult, RouteRegex } from '../../util/route-regex.js';
