/**
 * `npm run demo` at the repo root builds this package and runs this file. The World lives
 * in the OS temp dir and is wiped at the start of every run, so repeated runs start clean.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from './order-pipeline.js';

const dir = join(tmpdir(), 'cairn-demo');

console.log('Cairn demo: an order pipeline on world-local');
console.log('  retry: the payment gateway fails once | parallel: one reservation step per line item');
console.log('  hook: the driver releases the order   | sleep: a durable wait for the pick wave\n');

try {
  const { replayMatches } = await runDemo({ dir });
  console.log(`\nThe World's files are in ${dir}`);
  if (!replayMatches) process.exitCode = 1;
} catch (error) {
  console.error('\nThe demo failed:', error);
  process.exitCode = 1;
}
