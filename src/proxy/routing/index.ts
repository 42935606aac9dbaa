export { compileRouteTable, MAX_WEIGHT } from './compile.js';
export type { CompileOptions, CompileResult } from './compile.js';
export { RouteTable } from './table.js';
export { pickBackend, percentHit, NO_BACKEND_STATUS } from './backend.js';
export { applyHeaderModifier, applyUrlRewrite, redirectLocation, rewritePath, splitTarget } from './rewrite.js';
export type { RewrittenRequest } from './rewrite.js';
export { compileRouteRegex, MAX_PROGRAM_SIZE, MAX_REGEX_LENGTH } from './regex.js';
export type { RegexResult, RouteRegex } from './regex.js';
export * from './types.js';
