export { CliError, exitCodes } from './cli-error.js';
export { type Dashboard, type DashboardOptions, startDashboard } from './dashboard/server.js';
export { runCli } from './run-cli.js';
export { type OpenWorldOptions, openWorld, parseWorldUrl, type WorldTarget } from './world-url.js';
