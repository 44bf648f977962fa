import {
  type Hook,
  HookNotFoundError,
  InvalidInputError,
  idSchema,
  type ListRunsOptions,
  limits,
  nameSchema,
  type Page,
  type PageOptions,
  pageSizeSchema,
  parseInput,
  type Run,
  RunNotFoundError,
  runStatusSchema,
  type Step,
  StepNotFoundError,
  tokenSchema,
  type Wait,
  WaitNotFoundError,
  type WorldHooks,
  type WorldRuns,
  type WorldSteps,
  type WorldWaits,
} from '@cairn/core/world';
import { z } from 'zod';
import type { RunRecord } from './local-records.js';
import type { LocalStore } from './local-store.js';

const cursorSchema = z.string().regex(/^\d+$/, 'must be a cursor returned by an earlier page');
const pageOptionsSchema = z
  .strictObject({ cursor: cursorSchema.optional(), limit: pageSizeSchema.optional() })
  .optional();
const listRunsOptionsSchema = z
  .strictObject({
    cursor: cursorSchema.optional(),
    limit: pageSizeSchema.optional(),
    status: runStatusSchema.optional(),
    workflowName: nameSchema.optional(),
  })
  .optional();

/** Offset paging over an append-only sequence: items never move, so offsets are stable cursors. */
function pageOf<Item>(items: readonly Item[], options: PageOptions | undefined): Page<Item> {
  const { cursor, limit = limits.defaultPageSize } = parseInput(pageOptionsSchema, options, 'options') ?? {};
  const start = cursor === undefined ? 0 : Number(cursor);
  const data = items.slice(start, start + limit);
  const end = start + data.length;
  return { data: structuredClone(data), cursor: end < items.length ? String(end) : null };
}

/** Reads of the materialised views. Each waits for in-flight commits so it sees durable state only. */
export class LocalViews {
  readonly runs: WorldRuns;
  readonly steps: WorldSteps;
  readonly hooks: WorldHooks;
  readonly waits: WorldWaits;

  constructor(private readonly store: LocalStore) {
    this.runs = {
      get: async (runId) => structuredClone((await this.runRecord(runId)).run),
      list: (options) => this.listRuns(options),
    };
    this.steps = {
      get: async (runId, stepId) => {
        const step = (await this.runRecord(runId)).steps.get(parseInput(idSchema, stepId, 'stepId'));
        if (!step) throw new StepNotFoundError({ runId, stepId });
        return structuredClone(step);
      },
      list: async (runId, options) => pageOf<Step>([...(await this.runRecord(runId)).steps.values()], options),
    };
    this.hooks = {
      get: async (runId, hookId) => {
        const hook = (await this.runRecord(runId)).hooks.get(parseInput(idSchema, hookId, 'hookId'));
        if (!hook) throw new HookNotFoundError({ runId, hookId });
        return structuredClone(hook);
      },
      getByToken: async (token) => {
        parseInput(tokenSchema, token, 'token');
        await this.store.settled();
        const holder = this.store.state.tokens.get(token);
        const hook = holder && this.store.state.runs.get(holder.runId)?.hooks.get(holder.hookId);
        if (!hook) throw new HookNotFoundError({ token });
        return structuredClone(hook);
      },
      list: async (runId, options) => pageOf<Hook>([...(await this.runRecord(runId)).hooks.values()], options),
    };
    this.waits = {
      get: async (runId, waitId) => {
        const wait = (await this.runRecord(runId)).waits.get(parseInput(idSchema, waitId, 'waitId'));
        if (!wait) throw new WaitNotFoundError({ runId, waitId });
        return structuredClone(wait);
      },
      list: async (runId, options) => pageOf<Wait>([...(await this.runRecord(runId)).waits.values()], options),
    };
  }

  private async runRecord(runId: string): Promise<RunRecord> {
    parseInput(idSchema, runId, 'runId');
    await this.store.settled();
    const record = this.store.state.runs.get(runId);
    if (!record) throw new RunNotFoundError({ runId });
    return record;
  }

  /**
   * Newest first. The cursor is a position in creation order counted from the oldest, so
   * runs created while a caller pages do not shift the pages it has not read yet.
   */
  private async listRuns(options: ListRunsOptions | undefined): Promise<Page<Run>> {
    const parsed = parseInput(listRunsOptionsSchema, options, 'options') ?? {};
    await this.store.settled();
    const order = this.store.state.runOrder;
    const limit = parsed.limit ?? limits.defaultPageSize;
    let position = parsed.cursor === undefined ? order.length : Number(parsed.cursor);
    if (position > order.length) {
      throw new InvalidInputError({
        field: 'options.cursor',
        value: parsed.cursor,
        reason: 'is past the end of the list',
      });
    }
    const matches = (run: Run) =>
      (parsed.status === undefined || run.status === parsed.status) &&
      (parsed.workflowName === undefined || run.workflowName === parsed.workflowName);
    const data: Run[] = [];
    while (position > 0 && data.length < limit) {
      position -= 1;
      const { run } = order[position]!;
      if (matches(run)) data.push(run);
    }
    // Look ahead so the last page says so, instead of handing out a cursor to an empty page.
    let more = false;
    for (let index = position - 1; index >= 0 && !more; index--) more = matches(order[index]!.run);
    return { data: structuredClone(data), cursor: more ? String(position) : null };
  }
}
