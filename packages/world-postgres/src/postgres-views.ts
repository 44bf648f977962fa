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
import type { Database } from './database.js';

/*
 * Cursors are positions in an order that never changes for rows already written:
 * created_order for runs, the creating event's seq for steps, hooks and waits. Paging
 * stays stable while new rows arrive.
 */
const cursorSchema = z.string().regex(/^\d{1,18}$/, 'must be a cursor returned by an earlier page');
/** Entity cursors are seqs, which fit an integer column; a larger one was never handed out. */
const entityCursorSchema = cursorSchema.refine(
  (cursor) => Number(cursor) <= limits.maxPosition,
  'must be a cursor returned by an earlier page',
);
const pageOptionsSchema = z
  .strictObject({ cursor: entityCursorSchema.optional(), limit: pageSizeSchema.optional() })
  .optional();
const listRunsOptionsSchema = z
  .strictObject({
    cursor: cursorSchema.optional(),
    limit: pageSizeSchema.optional(),
    status: runStatusSchema.optional(),
    workflowName: nameSchema.optional(),
  })
  .optional();

type EntityTable = 'steps' | 'hooks' | 'waits';
const idColumn = { steps: 'step_id', hooks: 'hook_id', waits: 'wait_id' } as const;

/** Reads of the materialised views. Each is one statement, so it reads one consistent snapshot. */
export class PostgresViews {
  readonly runs: WorldRuns;
  readonly steps: WorldSteps;
  readonly hooks: WorldHooks;
  readonly waits: WorldWaits;

  constructor(private readonly db: Database) {
    this.runs = {
      get: async (runId) => {
        parseInput(idSchema, runId, 'runId');
        const rows = await db.query<{ body: Run }>(`SELECT body FROM ${db.tables.runs} WHERE run_id = $1`, [runId]);
        if (rows.length === 0) throw new RunNotFoundError({ runId });
        return rows[0]!.body;
      },
      list: (options) => this.listRuns(options),
    };
    this.steps = {
      get: (runId, stepId) =>
        this.getEntity<Step>('steps', runId, stepId, 'stepId', () => new StepNotFoundError({ runId, stepId })),
      list: (runId, options) => this.listEntities<Step>('steps', runId, options),
    };
    this.hooks = {
      get: (runId, hookId) =>
        this.getEntity<Hook>('hooks', runId, hookId, 'hookId', () => new HookNotFoundError({ runId, hookId })),
      getByToken: async (token) => {
        parseInput(tokenSchema, token, 'token');
        const rows = await db.query<{ body: Hook }>(`SELECT body FROM ${db.tables.hooks} WHERE token = $1 AND active`, [
          token,
        ]);
        if (rows.length === 0) throw new HookNotFoundError({ token });
        return rows[0]!.body;
      },
      list: (runId, options) => this.listEntities<Hook>('hooks', runId, options),
    };
    this.waits = {
      get: (runId, waitId) =>
        this.getEntity<Wait>('waits', runId, waitId, 'waitId', () => new WaitNotFoundError({ runId, waitId })),
      list: (runId, options) => this.listEntities<Wait>('waits', runId, options),
    };
  }

  private async getEntity<Entity>(
    table: EntityTable,
    runId: string,
    id: string,
    field: string,
    notFound: () => NotFoundError,
  ): Promise<Entity> {
    parseInput(idSchema, runId, 'runId');
    parseInput(idSchema, id, field);
    const rows = await this.db.query<{ body: Entity | null }>(
      `SELECT x.body FROM ${this.db.tables.runs} r
       LEFT JOIN ${this.db.tables[table]} x ON x.run_id = r.run_id AND x.${idColumn[table]} = $2
       WHERE r.run_id = $1`,
      [runId, id],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    if (!rows[0]!.body) throw notFound();
    return rows[0]!.body;
  }

  /** In creation order; the cursor is the last returned entity's creating seq. */
  private async listEntities<Entity>(
    table: EntityTable,
    runId: string,
    options: PageOptions | undefined,
  ): Promise<Page<Entity>> {
    parseInput(idSchema, runId, 'runId');
    const { cursor, limit = limits.defaultPageSize } = parseInput(pageOptionsSchema, options, 'options') ?? {};
    const rows = await this.db.query<{ body: Entity | null; created_seq: number | null }>(
      `SELECT x.body, x.created_seq FROM ${this.db.tables.runs} r
       LEFT JOIN LATERAL (
         SELECT body, created_seq FROM ${this.db.tables[table]}
         WHERE run_id = r.run_id AND created_seq > $2 ORDER BY created_seq LIMIT $3
       ) x ON true
       WHERE r.run_id = $1`,
      [runId, cursor === undefined ? 0 : Number(cursor), limit + 1],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    const found = rows.filter((row) => row.body !== null);
    const page = found.slice(0, limit);
    return {
      data: page.map((row) => row.body!),
      cursor: found.length > limit ? String(page.at(-1)!.created_seq) : null,
    };
  }

  /**
   * Newest first. The cursor is the created_order of the last run returned.
   *
   * The page's positions are chosen first, from the indexes alone (an index-only scan of
   * `runs_status_order` or `runs_workflow_order`, cheap once autovacuum has set the
   * visibility map), and only then are their rows read. Asked for whole rows in one statement, the planner walks all runs newest
   * first and filters by status, which costs as many rows as are newer than the page: with
   * 100,000 runs whose pending ones are all old, 90,000 of them for a first page of 50.
   */
  private async listRuns(options: ListRunsOptions | undefined): Promise<Page<Run>> {
    const parsed = parseInput(listRunsOptionsSchema, options, 'options') ?? {};
    const limit = parsed.limit ?? limits.defaultPageSize;
    const { runs } = this.db.tables;
    const rows = await this.db.query<{ body: Run; created_order: string }>(
      `SELECT r.body, r.created_order FROM (
         SELECT created_order FROM ${runs}
         WHERE ($1::bigint IS NULL OR created_order < $1::bigint)
           -- A cursor is the position of a run that exists; one beyond every run was never
           -- handed out, and must not read as "from the newest" (the first page again).
           AND ($1::bigint IS NULL OR $1::bigint <= (SELECT max(created_order) FROM ${runs}))
           AND ($2::text IS NULL OR status = $2::text)
           AND ($3::text IS NULL OR workflow_name = $3::text)
         ORDER BY created_order DESC LIMIT $4
       ) page JOIN ${runs} r ON r.created_order = page.created_order
       ORDER BY r.created_order DESC`,
      [parsed.cursor ?? null, parsed.status ?? null, parsed.workflowName ?? null, limit + 1],
      // Which index serves the page depends on which filters are given.
      { planEachTime: true },
    );
    const page = rows.slice(0, limit);
    return {
      data: page.map((row) => row.body),
      cursor: rows.length > limit ? String(page.at(-1)!.created_order) : null,
    };
  }
}
