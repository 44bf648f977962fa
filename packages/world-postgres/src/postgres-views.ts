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
import {
  composeView,
  hookPayloads,
  type PayloadReference,
  payloadSql,
  runPayloads,
  type StoredRow,
  stepPayloads,
} from './stored-views.js';

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
/** The fields each table's rows leave to events (stored-views.ts). */
const payloads: Record<EntityTable, readonly PayloadReference[]> = {
  steps: stepPayloads,
  hooks: hookPayloads,
  waits: [],
};

/**
 * Reads of the materialised views, each with the events that hold its payloads joined.
 * Each is one statement, so it reads one consistent snapshot.
 */
export class PostgresViews {
  readonly runs: WorldRuns;
  readonly steps: WorldSteps;
  readonly hooks: WorldHooks;
  readonly waits: WorldWaits;

  constructor(private readonly db: Database) {
    this.runs = {
      get: async (runId) => {
        parseInput(idSchema, runId, 'runId');
        const { columns, joins } = payloadSql(db.tables.events, 'r', runPayloads);
        const rows = await db.query<StoredRow<Run>>(
          `SELECT r.body${columns} FROM ${db.tables.runs} r ${joins} WHERE r.run_id = $1`,
          [runId],
        );
        if (rows.length === 0) throw new RunNotFoundError({ runId });
        return composeView(rows[0]!, runPayloads);
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
        const { columns, joins } = payloadSql(db.tables.events, 'h', hookPayloads);
        const rows = await db.query<StoredRow<Hook>>(
          `SELECT h.body${columns} FROM ${db.tables.hooks} h ${joins} WHERE h.token = $1 AND h.active`,
          [token],
        );
        if (rows.length === 0) throw new HookNotFoundError({ token });
        return composeView(rows[0]!, hookPayloads);
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
    const { columns, joins } = payloadSql(this.db.tables.events, 'x', payloads[table]);
    const rows = await this.db.query<StoredRow<Entity | null>>(
      `SELECT x.body${columns} FROM ${this.db.tables.runs} r
       LEFT JOIN ${this.db.tables[table]} x ON x.run_id = r.run_id AND x.${idColumn[table]} = $2
       ${joins}
       WHERE r.run_id = $1`,
      [runId, id],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    if (!rows[0]!.body) throw notFound();
    return composeView(rows[0] as StoredRow<Entity>, payloads[table]);
  }

  /** In creation order; the cursor is the last returned entity's creating seq. */
  private async listEntities<Entity>(
    table: EntityTable,
    runId: string,
    options: PageOptions | undefined,
  ): Promise<Page<Entity>> {
    parseInput(idSchema, runId, 'runId');
    const { cursor, limit = limits.defaultPageSize } = parseInput(pageOptionsSchema, options, 'options') ?? {};
    const { columns, joins } = payloadSql(this.db.tables.events, 'x', payloads[table]);
    const rows = await this.db.query<StoredRow<Entity | null> & { created_seq: number | null }>(
      `SELECT page.* FROM ${this.db.tables.runs} r
       LEFT JOIN LATERAL (
         SELECT x.body, x.created_seq${columns} FROM ${this.db.tables[table]} x ${joins}
         WHERE x.run_id = r.run_id AND x.created_seq > $2 ORDER BY x.created_seq LIMIT $3
       ) page ON true
       WHERE r.run_id = $1
       ORDER BY page.created_seq`,
      [runId, cursor === undefined ? 0 : Number(cursor), limit + 1],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    const found = rows.filter((row) => row.body !== null);
    const page = found.slice(0, limit);
    return {
      data: page.map((row) => composeView(row as StoredRow<Entity>, payloads[table])),
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
    const { columns, joins } = payloadSql(this.db.tables.events, 'r', runPayloads);
    const rows = await this.db.query<StoredRow<Run> & { created_order: string }>(
      `SELECT r.body, r.created_order${columns} FROM (
         SELECT created_order FROM ${runs}
         WHERE ($1::bigint IS NULL OR created_order < $1::bigint)
           -- A cursor is the position of a run that exists; one beyond every run was never
           -- handed out, and must not read as "from the newest" (the first page again).
           AND ($1::bigint IS NULL OR $1::bigint <= (SELECT max(created_order) FROM ${runs}))
           AND ($2::text IS NULL OR status = $2::text)
           AND ($3::text IS NULL OR workflow_name = $3::text)
         ORDER BY created_order DESC LIMIT $4
       ) page JOIN ${runs} r ON r.created_order = page.created_order
       ${joins}
       ORDER BY r.created_order DESC`,
      [parsed.cursor ?? null, parsed.status ?? null, parsed.workflowName ?? null, limit + 1],
      // Which index serves the page depends on which filters are given.
      { planEachTime: true },
    );
    const page = rows.slice(0, limit);
    return {
      data: page.map((row) => composeView(row, runPayloads)),
      cursor: rows.length > limit ? String(page.at(-1)!.created_order) : null,
    };
  }
}
