import {
  type Hook,
  HookNotFoundError,
  idSchema,
  type ListRunsOptions,
  limits,
  type NotFoundError,
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
import { decodeEntity, decodeRecord } from './codec.js';
import type { Store } from './store.js';

/*
 * Steps, hooks and waits page by their position in the run's creation-order list, which
 * only grows. Runs page by their creation-order member (server microseconds + run id),
 * kept in a sorted set per partition and merged across partitions at read time.
 */
const positionCursor = z.string().regex(/^\d{1,9}$/, 'must be a cursor returned by an earlier page');
const runCursor = z.string().regex(/^\d{16}:[\x21-\x7e]+$/, 'must be a cursor returned by an earlier page');
const pageOptionsSchema = z
  .strictObject({ cursor: positionCursor.optional(), limit: pageSizeSchema.optional() })
  .optional();
const listRunsOptionsSchema = z
  .strictObject({
    cursor: runCursor.optional(),
    limit: pageSizeSchema.optional(),
    status: runStatusSchema.optional(),
    workflowName: nameSchema.optional(),
  })
  .optional();

type Kind = 's' | 'h' | 'w';

export class RedisViews {
  readonly runs: WorldRuns;
  readonly steps: WorldSteps;
  readonly hooks: WorldHooks;
  readonly waits: WorldWaits;

  constructor(private readonly store: Store) {
    this.runs = {
      get: async (runId) => {
        parseInput(idSchema, runId, 'runId');
        const run = await this.readRun(runId);
        if (!run) throw new RunNotFoundError({ runId });
        return run;
      },
      list: (options) => this.listRuns(options),
    };
    this.steps = {
      get: (runId, stepId) =>
        this.getEntity<Step>('s', runId, stepId, 'stepId', () => new StepNotFoundError({ runId, stepId })),
      list: (runId, options) => this.listEntities<Step>('s', runId, options),
    };
    this.hooks = {
      get: (runId, hookId) =>
        this.getEntity<Hook>('h', runId, hookId, 'hookId', () => new HookNotFoundError({ runId, hookId })),
      getByToken: (token) => this.hookByToken(token),
      list: (runId, options) => this.listEntities<Hook>('h', runId, options),
    };
    this.waits = {
      get: (runId, waitId) =>
        this.getEntity<Wait>('w', runId, waitId, 'waitId', () => new WaitNotFoundError({ runId, waitId })),
      list: (runId, options) => this.listEntities<Wait>('w', runId, options),
    };
  }

  private async readRun(runId: string): Promise<Run | undefined> {
    const client = await this.store.client();
    const record = await client.hgetall(`${this.store.keys.runBase(runId)}:r:${runId}`);
    return Object.keys(record).length === 0 ? undefined : decodeRecord<Run>(record);
  }

  private async runExists(runId: string): Promise<boolean> {
    const client = await this.store.client();
    return (await client.exists(`${this.store.keys.runBase(runId)}:r:${runId}`)) === 1;
  }

  private async getEntity<Entity>(kind: Kind, runId: string, id: string, field: string, notFound: () => NotFoundError) {
    parseInput(idSchema, runId, 'runId');
    parseInput(idSchema, id, field);
    const client = await this.store.client();
    const base = this.store.keys.runBase(runId);
    // Entities are written in the same script as the run, so a run that is missing now had no entity before.
    const encoded = await client.hget(`${base}:${kind}:${runId}`, id);
    if (encoded === null) {
      if (!(await this.runExists(runId))) throw new RunNotFoundError({ runId });
      throw notFound();
    }
    return decodeEntity<Entity>(encoded);
  }

  private async listEntities<Entity>(
    kind: Kind,
    runId: string,
    options: PageOptions | undefined,
  ): Promise<Page<Entity>> {
    parseInput(idSchema, runId, 'runId');
    const { cursor, limit = limits.defaultPageSize } = parseInput(pageOptionsSchema, options, 'options') ?? {};
    if (!(await this.runExists(runId))) throw new RunNotFoundError({ runId });
    const client = await this.store.client();
    const base = this.store.keys.runBase(runId);
    const start = cursor === undefined ? 0 : Number(cursor);
    const ids = await client.lrange(`${base}:${kind}o:${runId}`, start, start + limit);
    const page = ids.slice(0, limit);
    const encoded = page.length === 0 ? [] : await client.hmget(`${base}:${kind}:${runId}`, ...page);
    return {
      data: encoded.map((entity) => decodeEntity<Entity>(entity!)),
      cursor: ids.length > limit ? String(start + limit) : null,
    };
  }

  /** The claim names the run; the run's own token index names the live hook (see hook-tokens.ts). */
  private async hookByToken(token: string): Promise<Hook> {
    parseInput(tokenSchema, token, 'token');
    const client = await this.store.client();
    const claim = await client.get(this.store.keys.tokenKey(token));
    if (claim !== null) {
      const { r: runId } = JSON.parse(claim) as { r: string };
      const base = this.store.keys.runBase(runId);
      const hookId = await client.hget(`${base}:t:${runId}`, token);
      const encoded = hookId === null ? null : await client.hget(`${base}:h:${runId}`, hookId);
      if (encoded !== null) {
        const hook = decodeEntity<Hook>(encoded);
        if (hook.status === 'active' && hook.token === token) return hook;
      }
    }
    throw new HookNotFoundError({ token });
  }

  /** Newest first: each partition's index read below the cursor, merged, the page's runs read. */
  private async listRuns(options: ListRunsOptions | undefined): Promise<Page<Run>> {
    const parsed = parseInput(listRunsOptionsSchema, options, 'options') ?? {};
    const limit = parsed.limit ?? limits.defaultPageSize;
    const client = await this.store.client();
    const { keys } = this.store;
    const index =
      parsed.workflowName !== undefined
        ? `runs:w:${JSON.stringify(parsed.workflowName)}`
        : parsed.status !== undefined
          ? `runs:s:${JSON.stringify(parsed.status)}`
          : 'runs';
    // With both filters the workflow index is read and the status checked on each run.
    const wantStatus = parsed.workflowName !== undefined ? parsed.status : undefined;
    let upper = parsed.cursor === undefined ? '+' : `(${parsed.cursor}`;
    const data: Run[] = [];
    const orders: string[] = [];
    for (;;) {
      const batch = limit + 1 - data.length;
      const perPartition = await Promise.all(
        Array.from({ length: keys.partitions }, (_, partition) =>
          client.zrevrangebylex(`${keys.base(partition)}:${index}`, upper, '-', 'LIMIT', 0, batch),
        ),
      );
      const merged = perPartition
        .flat()
        .sort((x, y) => (x < y ? 1 : x > y ? -1 : 0))
        .slice(0, batch);
      if (merged.length === 0) break;
      const runs = await Promise.all(merged.map((member) => this.readRun(member.slice(17))));
      merged.forEach((member, position) => {
        const run = runs[position];
        if (!run || (wantStatus !== undefined && run.status !== wantStatus)) return;
        if (parsed.status !== undefined && run.status !== parsed.status) return;
        data.push(run);
        orders.push(member);
      });
      upper = `(${merged.at(-1)}`;
      if (data.length > limit || merged.length < batch) break;
    }
    const page = data.slice(0, limit);
    return { data: page, cursor: data.length > limit ? orders[limit - 1]! : null };
  }
}
