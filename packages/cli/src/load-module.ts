import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorkflowDefinition } from '@cairn/core';
import { CliError } from './cli-error.js';

const isWorkflow = (value: unknown): value is WorkflowDefinition =>
  typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'cairn.workflow';

/** Workflows in an export: a workflow, or an array or object whose values are workflows. */
function workflowsIn(value: unknown): WorkflowDefinition[] {
  if (isWorkflow(value)) return [value];
  if (Array.isArray(value)) return value.filter(isWorkflow);
  if (typeof value === 'object' && value !== null) return Object.values(value).filter(isWorkflow);
  return [];
}

/**
 * Imports the user's module (a built `.js`/`.mjs` file) and collects the workflows it
 * exports, by name: named exports, a `workflows` array or object, or a default export of
 * either kind. The module must resolve the same `@cairn/core` as the CLI, which it does when
 * both are installed in one project.
 */
export async function loadWorkflows(file: string): Promise<Map<string, WorkflowDefinition>> {
  const path = resolve(file);
  if (!existsSync(path)) throw CliError.usage(`--module "${file}" does not exist (resolved to ${path})`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`could not load --module ${file}: ${(error as Error).stack ?? String(error)}`);
  }
  const found = new Map<string, WorkflowDefinition>();
  for (const value of Object.values(module)) {
    for (const workflow of workflowsIn(value)) found.set(workflow.name, workflow);
  }
  if (found.size === 0) {
    throw new CliError(
      `--module ${file} exports no workflows; export the values made by workflow() (named, as \`workflows\`, or as the default export)`,
    );
  }
  return found;
}
