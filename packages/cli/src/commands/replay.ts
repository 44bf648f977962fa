import { type ReplayVerdict, replayRun, type WorkflowDefinition } from '@cairn/core';
import type { Run, World } from '@cairn/core/world';
import type { Command } from 'commander';
import { CliError, exitCodes } from '../cli-error.js';
import { type CommandContext, withWorld } from '../context.js';
import { loadWorkflows } from '../load-module.js';
import { type Column, formatJson, formatTable } from '../output.js';
import { createProgress } from '../progress.js';
import { listRuns } from './runs.js';

/** One run's outcome: `ok` (the code agrees with the log), `diverged`, or `skipped` (its workflow is not in the module). */
export interface ReplayReport {
  runId: string;
  workflowName: string;
  recordedStatus: Run['status'];
  verdict: 'ok' | 'diverged' | 'skipped';
  detail: string;
}

/**
 * Replays one run and judges it. A divergence is a replay that asks for other commands
 * than the log recorded, or a replay that fails or waits where the recorded run completed.
 * (A run that failed may be replayed to completion by fixed code; that is not a divergence.)
 */
async function judge(world: World, run: Run, workflow: WorkflowDefinition | undefined): Promise<ReplayReport> {
  const base = { runId: run.runId, workflowName: run.workflowName, recordedStatus: run.status };
  if (!workflow) return { ...base, verdict: 'skipped', detail: 'the module does not export this workflow' };
  const verdict: ReplayVerdict = await replayRun(world, workflow, run.runId);
  if (verdict.status === 'diverged') return { ...base, verdict: 'diverged', detail: verdict.error.message };
  if (run.status === 'completed' && verdict.status !== 'completed') {
    return { ...base, verdict: 'diverged', detail: `the run completed, but the replay ${verdict.status}` };
  }
  return { ...base, verdict: 'ok', detail: `replay ${verdict.status}` };
}

const reportColumns: Column<ReplayReport>[] = [
  { header: 'RUN ID', value: (report) => report.runId },
  { header: 'WORKFLOW', value: (report) => report.workflowName },
  { header: 'RECORDED', value: (report) => report.recordedStatus },
  { header: 'VERDICT', value: (report) => report.verdict },
  { header: 'DETAIL', value: (report) => report.detail },
];

interface ReplayOptions {
  module: string;
  run?: string;
  all?: boolean;
  json?: boolean;
}

export function registerReplay(program: Command, { output }: CommandContext): void {
  program
    .command('replay')
    .description('check workflow code against recorded runs before deploying it; exits 1 on any divergence')
    .requiredOption('--module <file>', 'a built module exporting the new workflow code')
    .option('--run <id>', 'replay this run')
    .option('--all', "replay every run of the module's workflows")
    .option('--json', 'print JSON instead of a table')
    .action(async (options: ReplayOptions, command: Command) => {
      if (Boolean(options.run) === Boolean(options.all))
        throw CliError.usage('pass exactly one of --run <id> or --all');
      const workflows = await loadWorkflows(options.module);
      const reports = await withWorld(command, { readOnly: true }, async (world) => {
        if (options.run) {
          const run = await world.runs.get(options.run);
          return [await judge(world, run, workflows.get(run.workflowName))];
        }
        const runs: Run[] = [];
        for (const name of workflows.keys()) {
          runs.push(
            ...(await listRuns((page) => world.runs.list(page), {
              workflowName: name,
              limit: Number.MAX_SAFE_INTEGER,
            })),
          );
        }
        const progress = createProgress('replayed', output);
        const judged: ReplayReport[] = [];
        for (const run of runs) {
          judged.push(await judge(world, run, workflows.get(run.workflowName)));
          progress.update(judged.length, runs.length);
        }
        const diverged = judged.filter((report) => report.verdict === 'diverged').length;
        progress.finish(`${judged.length} runs, ${diverged} diverged`);
        return judged;
      });
      output.out.write(options.json ? formatJson(reports) : formatTable(reports, reportColumns));
      const divergent = reports.filter((report) => report.verdict === 'diverged');
      // The table cuts long cells; the divergence message is what the operator needs in full.
      if (!options.json) for (const report of divergent) output.err.write(`${report.runId}: ${report.detail}\n`);
      if (divergent.length > 0) {
        const diverged = divergent.map((report) => report.runId);
        throw new CliError(
          `the code diverges from ${diverged.length} recorded run(s): ${diverged.join(', ')}`,
          exitCodes.failure,
        );
      }
    });
}
