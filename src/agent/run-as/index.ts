export { AppUsers, DEFAULT_APP_USER, type AppProcess, type Decision, type RunAs } from './decide.js';
export { systemAccounts, parsePasswdLine, type Account, type Accounts } from './accounts.js';
export { allowed, unreachable, type Who } from './reach.js';
