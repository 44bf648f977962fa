// The same packages loaded with require(): the exports' "module-sync" condition hands the
// ESM build to require() on Node versions that can load ES modules synchronously.
import assert = require('node:assert/strict');
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import cairn = require('@cairn/core');
import local = require('@cairn/world-local');

const greet = cairn.step('scratch.greet', async (name: string) => `hello, ${name}`);
const hello = cairn.workflow('scratch.hello', async (name: string) => greet(name));

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-scratch-cjs-'));
  const world = local.createLocalWorld({ dir });
  const worker = cairn.createWorker({ world, workflows: [hello] });
  try {
    await worker.start();
    const run = await cairn.createClient({ world }).start(hello, 'require');
    assert.equal(await run.result({ signal: AbortSignal.timeout(30_000) }), 'hello, require');
    console.log(`scratch app (require): run ${run.id} completed`);
  } finally {
    await worker.stop();
    await world.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
