// Tries one driver by hand: `node benchmarks/src/drive.mjs <peer dir> [database url]`.
// Sends a short version of every operation and prints each reply, so a driver can be
// checked without the whole runner.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDriver } from './driver-process.mjs';

const [directory, databaseUrl, variant] = process.argv.slice(2);
if (!directory) {
  console.error('usage: node benchmarks/src/drive.mjs <driver directory> [database url] [variant]');
  process.exit(2);
}
const dataDir = await mkdtemp(join(tmpdir(), 'cairn-bench-drive-'));
const driver = await startDriver({ directory: resolve(directory), options: { databaseUrl, dataDir, variant } });
console.log('ready:', driver.ready);
const commands = [
  ['sequential', { steps: 0, payloadBytes: 0 }],
  ['sequential', { steps: 10, payloadBytes: 0 }],
  ['sequential', { steps: 10, payloadBytes: 10_240 }],
  ['concurrent', { steps: 10, payloadBytes: 0, mode: 'all' }],
  ['concurrent', { steps: 10, payloadBytes: 0, mode: 'race' }],
  ['concurrent', { steps: 10, payloadBytes: 10_240, mode: 'all' }],
  ['map', { items: 100, maxConcurrency: 10 }],
  ['many', { workflows: 10, steps: 1 }],
  ['hookResume', {}],
  ['streamFirstChunk', {}],
  ['streamThroughput', { totalBytes: 1 << 20, chunkBytes: 16_384 }],
  ['stepTimestamps', { steps: 20 }],
];
for (const [op, params] of commands) {
  const reply = await driver.call(op, params);
  const value = JSON.stringify(reply.value)?.slice(0, 160);
  console.log(
    op,
    JSON.stringify(params),
    reply.ok ? `${reply.elapsedMs.toFixed(1)} ms -> ${value}` : `FAILED ${reply.error}`,
  );
}
await driver.close();
