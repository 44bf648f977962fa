import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as world from '../src/world/index.js';

type WorldModule = typeof world;
type ErrorClassName = {
  [Name in keyof WorldModule]: WorldModule[Name] extends abstract new (
    ...args: never[]
  ) => InstanceType<typeof world.CairnError>
    ? Name
    : never;
}[keyof WorldModule];

interface ErrorCase {
  code: string;
  /** Every ancestor class up to CairnError, nearest first. */
  parents: ErrorClassName[];
  retryable: boolean;
  create: (module: WorldModule) => InstanceType<WorldModule[ErrorClassName]>;
  /** Fields `toJSON` must carry with these values. */
  json: Record<string, unknown>;
  /** Ids and values the message must name. */
  mentions: string[];
}

/*
 * One row per class in src/world/errors. `create` takes the module so the same row builds
 * an instance from a second copy of the package.
 */
const cases: Record<ErrorClassName, ErrorCase> = {
  CairnError: {
    code: 'CAIRN_ERROR',
    parents: [],
    retryable: false,
    create: (m) => new m.CairnError('the disk is on fire'),
    json: { message: 'the disk is on fire' },
    mentions: ['the disk is on fire'],
  },
  EntityConflictError: {
    code: 'ENTITY_CONFLICT',
    parents: ['CairnError'],
    retryable: false,
    create: (m) =>
      new m.EntityConflictError({
        runId: 'run_conflict_1',
        entity: 'step',
        correlationId: 'step:charge#0',
        message: 'Step step:charge#0 already exists on run run_conflict_1',
      }),
    json: { runId: 'run_conflict_1', entity: 'step', correlationId: 'step:charge#0' },
    mentions: ['run_conflict_1', 'step:charge#0'],
  },
  DuplicateDeliveryError: {
    code: 'DUPLICATE_DELIVERY',
    parents: ['CairnError'],
    retryable: false,
    create: (m) => new m.DuplicateDeliveryError({ runId: 'run_dup_1', deliveryId: 'stripe:evt_9', hookId: 'hook_3' }),
    json: { runId: 'run_dup_1', deliveryId: 'stripe:evt_9', hookId: 'hook_3' },
    mentions: ['run_dup_1', 'stripe:evt_9', 'hook_3'],
  },
  FenceConflictError: {
    code: 'FENCE_CONFLICT',
    parents: ['EntityConflictError', 'CairnError'],
    retryable: true,
    create: (m) =>
      new m.FenceConflictError({
        runId: 'run_fence_1',
        expectedEventId: 'evt_000000000003',
        currentTail: { eventId: 'evt_000000000007', seq: 7 },
      }),
    json: {
      runId: 'run_fence_1',
      entity: 'run',
      expectedEventId: 'evt_000000000003',
      currentTail: { eventId: 'evt_000000000007', seq: 7 },
    },
    mentions: ['run_fence_1', 'evt_000000000003', 'evt_000000000007'],
  },
  NotFoundError: {
    code: 'NOT_FOUND',
    parents: ['CairnError'],
    retryable: false,
    create: (m) => new m.NotFoundError('Widget w-9 not found', { widgetId: 'w-9' }),
    json: { lookup: { widgetId: 'w-9' } },
    mentions: ['w-9'],
  },
  RunNotFoundError: {
    code: 'RUN_NOT_FOUND',
    parents: ['NotFoundError', 'CairnError'],
    retryable: false,
    create: (m) => new m.RunNotFoundError({ runId: 'run_missing_1' }),
    json: { lookup: { runId: 'run_missing_1' } },
    mentions: ['run_missing_1'],
  },
  EventNotFoundError: {
    code: 'EVENT_NOT_FOUND',
    parents: ['NotFoundError', 'CairnError'],
    retryable: false,
    create: (m) => new m.EventNotFoundError({ runId: 'run_ev_1', eventId: 'evt_000000000042' }),
    json: { lookup: { runId: 'run_ev_1', eventId: 'evt_000000000042' } },
    mentions: ['run_ev_1', 'evt_000000000042'],
  },
  StepNotFoundError: {
    code: 'STEP_NOT_FOUND',
    parents: ['NotFoundError', 'CairnError'],
    retryable: false,
    create: (m) => new m.StepNotFoundError({ runId: 'run_st_1', stepId: 'step:ship#2' }),
    json: { lookup: { runId: 'run_st_1', stepId: 'step:ship#2' } },
    mentions: ['run_st_1', 'step:ship#2'],
  },
  WaitNotFoundError: {
    code: 'WAIT_NOT_FOUND',
    parents: ['NotFoundError', 'CairnError'],
    retryable: false,
    create: (m) => new m.WaitNotFoundError({ runId: 'run_wt_1', waitId: 'wait:sleep#1' }),
    json: { lookup: { runId: 'run_wt_1', waitId: 'wait:sleep#1' } },
    mentions: ['run_wt_1', 'wait:sleep#1'],
  },
  HookNotFoundError: {
    code: 'HOOK_NOT_FOUND',
    parents: ['NotFoundError', 'CairnError'],
    retryable: false,
    create: (m) => new m.HookNotFoundError({ token: 'approve:order-77' }),
    json: { lookup: { token: 'approve:order-77' } },
    mentions: ['approve:order-77'],
  },
  HookTokenConflictError: {
    code: 'HOOK_TOKEN_CONFLICT',
    parents: ['CairnError'],
    retryable: false,
    create: (m) =>
      new m.HookTokenConflictError({ token: 'approve:order-8', heldBy: { runId: 'run_hk_1', hookId: 'hook:a#0' } }),
    json: { token: 'approve:order-8', heldBy: { runId: 'run_hk_1', hookId: 'hook:a#0' } },
    mentions: ['approve:order-8', 'run_hk_1', 'hook:a#0'],
  },
  InvalidInputError: {
    code: 'INVALID_INPUT',
    parents: ['CairnError'],
    retryable: false,
    create: (m) => new m.InvalidInputError({ field: 'request.eventData.resumeAt', value: -5, reason: 'must be >= 0' }),
    json: { field: 'request.eventData.resumeAt', reason: 'must be >= 0', value: '-5' },
    mentions: ['request.eventData.resumeAt', '-5', 'must be >= 0'],
  },
  RunTerminalError: {
    code: 'RUN_TERMINAL',
    parents: ['CairnError'],
    retryable: false,
    create: (m) => new m.RunTerminalError({ runId: 'run_done_1', status: 'completed', eventType: 'step_created' }),
    json: { runId: 'run_done_1', status: 'completed' },
    mentions: ['run_done_1', 'completed', 'step_created'],
  },
  StreamClosedError: {
    code: 'STREAM_CLOSED',
    parents: ['CairnError'],
    retryable: false,
    create: (m) => new m.StreamClosedError({ runId: 'run_sc_1', stream: 'progress' }),
    json: { runId: 'run_sc_1', stream: 'progress' },
    mentions: ['run_sc_1', 'progress'],
  },
  WorldClosedError: {
    code: 'WORLD_CLOSED',
    parents: ['CairnError'],
    retryable: false,
    create: (m) => new m.WorldClosedError({ world: 'local:/var/lib/cairn-closed' }),
    json: { world: 'local:/var/lib/cairn-closed' },
    mentions: ['local:/var/lib/cairn-closed'],
  },
  WorldCorruptedError: {
    code: 'WORLD_CORRUPTED',
    parents: ['CairnError'],
    retryable: false,
    create: (m) =>
      new m.WorldCorruptedError({ location: '/var/lib/cairn/journal-3.cairn', detail: 'bad checksum at byte 812' }),
    json: { location: '/var/lib/cairn/journal-3.cairn' },
    mentions: ['/var/lib/cairn/journal-3.cairn', 'bad checksum at byte 812'],
  },
  WorldUnavailableError: {
    code: 'WORLD_UNAVAILABLE',
    parents: ['CairnError'],
    retryable: true,
    create: (m) =>
      new m.WorldUnavailableError({
        world: 'local:/srv/cairn-held',
        location: '/srv/cairn-held',
        reason: 'it is locked by live process 4242',
      }),
    json: { world: 'local:/srv/cairn-held', location: '/srv/cairn-held' },
    mentions: ['/srv/cairn-held', 'locked by live process 4242'],
  },
};

const names = Object.keys(cases) as ErrorClassName[];
const errorClass = (module: WorldModule, name: ErrorClassName) =>
  module[name] as unknown as (abstract new (...args: never[]) => Error) & { is(value: unknown): boolean; name: string };

/** Every exported class that is CairnError or extends it. */
function exportedErrorClasses(module: WorldModule): string[] {
  return Object.entries(module)
    .filter(
      ([, value]) =>
        typeof value === 'function' && (value === module.CairnError || value.prototype instanceof module.CairnError),
    )
    .map(([name]) => name)
    .sort();
}

describe('error classes', () => {
  it('cover every class exported from src/world/errors (add a row when adding a class)', () => {
    expect(exportedErrorClasses(world)).toEqual([...names].sort());
  });

  it.each(names)('%s has its stable code, its class name and its retryable flag', (name) => {
    const error = cases[name].create(world);
    expect(error.code).toBe(cases[name].code);
    expect(error.name).toBe(name);
    expect(errorClass(world, name).name).toBe(name);
    expect(error.retryable).toBe(cases[name].retryable);
    expect(error).toBeInstanceOf(Error);
    expect(typeof error.stack).toBe('string');
  });

  it('codes are unique', () => {
    const codes = names.map((name) => cases[name].code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('retryable is true exactly for FenceConflictError and WorldUnavailableError', () => {
    const retryable = names.filter((name) => cases[name].create(world).retryable).sort();
    expect(retryable).toEqual(['FenceConflictError', 'WorldUnavailableError']);
    expect(
      new world.InvalidInputError({ field: 'options.limit', value: 0, reason: 'must be at least 1' }).retryable,
    ).toBe(false);
  });

  it.each(names)('%s.is() is true for its own instances and its parents, false for unrelated classes', (name) => {
    const error = cases[name].create(world);
    const related = new Set<ErrorClassName>([name, ...cases[name].parents]);
    for (const other of names) {
      expect({ class: other, is: errorClass(world, other).is(error) }).toEqual({
        class: other,
        is: related.has(other),
      });
      // is() agrees with instanceof within one copy.
      expect(error instanceof errorClass(world, other)).toBe(related.has(other));
    }
  });

  it('spells out the hierarchy the contract relies on', () => {
    const fence = cases.FenceConflictError.create(world);
    expect(world.FenceConflictError.is(fence)).toBe(true);
    expect(world.EntityConflictError.is(fence)).toBe(true);
    expect(world.CairnError.is(fence)).toBe(true);
    expect(world.NotFoundError.is(fence)).toBe(false);

    const runMissing = cases.RunNotFoundError.create(world);
    expect(world.RunNotFoundError.is(runMissing)).toBe(true);
    expect(world.NotFoundError.is(runMissing)).toBe(true);
    expect(world.CairnError.is(runMissing)).toBe(true);
    expect(world.StepNotFoundError.is(runMissing)).toBe(false);
    expect(world.EntityConflictError.is(runMissing)).toBe(false);

    // A parent is not its child.
    const conflict = cases.EntityConflictError.create(world);
    expect(world.FenceConflictError.is(conflict)).toBe(false);
    const notFound = cases.NotFoundError.create(world);
    expect(world.RunNotFoundError.is(notFound)).toBe(false);
  });

  it.each(names)('%s.is() is false for plain errors, look-alikes and non-objects', (name) => {
    const is = (value: unknown) => errorClass(world, name).is(value);
    const lookAlike = new Error('Run run_x not found');
    lookAlike.name = name;
    const { code } = cases[name];
    const candidates: unknown[] = [
      new Error('boom'),
      new TypeError('nope'),
      lookAlike,
      Object.assign(new Error('coded'), { code }),
      { name, code, message: 'a plain object shaped like the error' },
      JSON.parse(JSON.stringify(cases[name].create(world))),
      null,
      undefined,
      0,
      42,
      '',
      name,
      true,
      Symbol.for('cairn.error'),
      () => {},
      [],
    ];
    for (const candidate of candidates) expect(is(candidate)).toBe(false);
  });

  it.each(names)('%s.toJSON() carries name, code, message and its typed fields', (name) => {
    const error = cases[name].create(world);
    const json = error.toJSON();
    expect(json).toMatchObject({ name, code: cases[name].code, message: error.message, ...cases[name].json });
    // What goes on the wire is what toJSON said.
    expect(JSON.parse(JSON.stringify(error))).toEqual(JSON.parse(JSON.stringify(json)));
  });

  it.each(names)('%s.toJSON() carries every typed field the instance has', (name) => {
    const error = cases[name].create(world) as unknown as Record<string, unknown> & { toJSON(): object };
    const json = error.toJSON() as Record<string, unknown>;
    const lookup = (json.lookup ?? {}) as Record<string, unknown>;
    // Own enumerable fields beyond Error's: `code`, `retryable` (a class constant), and the typed ones.
    const typed = Object.keys(error).filter((key) => !['name', 'message', 'stack', 'retryable'].includes(key));
    for (const key of typed) {
      const expected = name === 'InvalidInputError' && key === 'value' ? world.describeValue(error[key]) : error[key];
      // The not-found family carries what was looked up in `lookup`.
      const carried = key in json ? json[key] : lookup[key];
      expect({ field: key, value: carried }).toEqual({ field: key, value: expected });
    }
  });

  it.each(names)('%s names the ids and values involved in its message', (name) => {
    const { message } = cases[name].create(world);
    for (const mention of cases[name].mentions) expect(message).toContain(mention);
  });

  it('keeps the cause it was given', () => {
    const cause = new Error('ECONNREFUSED 127.0.0.1:5432');
    const error = new world.WorldUnavailableError({
      world: 'postgres:127.0.0.1',
      location: '127.0.0.1:5432',
      reason: 'connection refused',
      cause,
    });
    expect(error.cause).toBe(cause);
    expect(new world.WorldClosedError({ world: 'w', cause }).cause).toBe(cause);
    expect('cause' in new world.CairnError('no cause')).toBe(false);
  });

  it('describes values in messages briefly and without throwing', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(world.describeValue('short')).toBe('"short"');
    expect(world.describeValue('x'.repeat(500)).length).toBeLessThanOrEqual(82);
    expect(world.describeValue(undefined)).toBe('undefined');
    expect(world.describeValue(10n)).toBe('10n');
    expect(world.describeValue(function handler() {})).toBe('[function handler]');
    expect(world.describeValue(new Uint8Array(12))).toBe('Uint8Array(12)');
    expect(() => world.describeValue(circular)).not.toThrow();
    const invalid = new world.InvalidInputError({ field: 'payload', value: circular, reason: 'is not JSON' });
    expect(invalid.message).toContain('payload');
  });
});

/*
 * Two copies of @cairn/core in one process (a World built against one install, an app on
 * another) have distinct classes, so `instanceof` fails across them; `is()` must not.
 *
 * A `?copy=n` query on dist/world/index.js alone does not give a second copy: tsup puts
 * the classes in a shared chunk that index.js imports by plain URL, so both URLs would
 * share one class identity. Instead the built dist is copied whole to a temp directory,
 * as a second install would be, and imported from there.
 */
describe('error classes across duplicated package copies', () => {
  const packageDir = fileURLToPath(new URL('..', import.meta.url));
  const distDir = join(packageDir, 'dist');
  const copyDirs: string[] = [];
  let copies: WorldModule[] = [];

  async function loadCopy(): Promise<WorldModule> {
    const root = await mkdtemp(join(tmpdir(), 'cairn-core-copy-'));
    copyDirs.push(root);
    await cp(distDir, join(root, 'dist'), { recursive: true });
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: '@cairn/core', type: 'module' }));
    // The copy's own dependencies (zod, ulid) resolve through this link.
    await symlink(join(packageDir, 'node_modules'), join(root, 'node_modules'), 'dir');
    return (await import(pathToFileURL(join(root, 'dist/world/index.js')).href)) as WorldModule;
  }

  beforeAll(async () => {
    if (!existsSync(join(distDir, 'world/index.js'))) {
      throw new Error(`${distDir} is missing: build @cairn/core first (pnpm --filter @cairn/core build)`);
    }
    copies = [await loadCopy(), await loadCopy()];
  });

  afterAll(async () => {
    await Promise.all(copyDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('the copies really are distinct class identities', () => {
    const [first, second] = copies as [WorldModule, WorldModule];
    expect(first.CairnError).not.toBe(world.CairnError);
    expect(second.CairnError).not.toBe(first.CairnError);
    expect(exportedErrorClasses(first)).toEqual([...names].sort());
  });

  it.each(names)('%s: instanceof fails across copies while is() recognises the error and its parents', (name) => {
    for (const [from, to] of [
      [copies[0]!, world],
      [world, copies[0]!],
      [copies[0]!, copies[1]!],
    ] as const) {
      const error = cases[name].create(from);
      expect(error.name).toBe(name);
      expect(error.code).toBe(cases[name].code);
      expect(error instanceof errorClass(to, name)).toBe(false);
      const related = new Set<ErrorClassName>([name, ...cases[name].parents]);
      for (const other of names) {
        expect({ class: other, is: errorClass(to, other).is(error) }).toEqual({
          class: other,
          is: related.has(other),
        });
      }
    }
  });
});
