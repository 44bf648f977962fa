#!/usr/bin/env node
import { runCli } from './run-cli.js';

const code = await runCli(process.argv.slice(2));
// Let stdout drain before exiting, so piped output is never cut short.
process.stdout.write('', () => process.exit(code));
