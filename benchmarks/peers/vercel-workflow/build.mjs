// Compiles workflows/*.ts with Vercel's builder (@workflow/builders) into .build/:
//   workflows.mjs  the workflow route handler: `POST(request)` replays a workflow in the
//                  runtime's VM (workflow-mode bundle inlined as a string)
//   steps.mjs      the step route handler: `POST(request)` runs one step (step-mode bundle)
//   client.mjs     the workflow exports in client mode, each carrying its `workflowId`,
//                  which is what `start()` from `workflow/api` takes
// The two handlers are what a framework integration (Next.js, Nitro, ...) mounts at
// /.well-known/workflow/v1/flow and /.well-known/workflow/v1/step; driver.mjs mounts them
// on a plain node:http server instead. The subclass mirrors the in-process builder of
// @workflow/vitest (ESM output, non-step modules left external), so the bundles share
// this directory's node_modules (one `workflow/runtime`, one World) with the driver.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseBuilder } from '@workflow/builders';

const here = fileURLToPath(new URL('.', import.meta.url));
export const outDir = join(here, '.build');

class BenchBuilder extends BaseBuilder {
  constructor() {
    super({
      buildTarget: 'standalone',
      workingDir: here,
      dirs: ['workflows'],
      stepsBundlePath: join(outDir, 'steps.mjs'),
      workflowsBundlePath: join(outDir, 'workflows.mjs'),
      webhookBundlePath: join(outDir, 'webhook.mjs'),
      clientBundlePath: join(outDir, 'client.mjs'),
      suppressCreateWorkflowsBundleLogs: true,
      suppressCreateWebhookBundleLogs: true,
      suppressCreateManifestLogs: true,
    });
  }

  async build() {
    const inputFiles = await this.getInputFiles();
    await this.createWorkflowsBundle({
      outfile: this.config.workflowsBundlePath,
      bundleFinalOutput: false,
      format: 'esm',
      inputFiles,
    });
    await this.createStepsBundle({
      outfile: this.config.stepsBundlePath,
      externalizeNonSteps: true,
      format: 'esm',
      inputFiles,
    });
    await this.createClientLibrary();
  }
}

/** Rebuilds .build/ from scratch; returns the output directory. */
export async function build() {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await new BenchBuilder().build();
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await build();
  console.error(`built ${outDir}`);
}
