import type { PathLike } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { readdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { type CreateEventRequest, WorldClosedError, type WorldEvent } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { fileSystem } from '../src/file-system.js';
import { createLocalWorld, type LocalWorld } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

/*
 * Fault injection: every file operation world-local makes goes through `fileSystem`, so the
 * tests below can make the k-th one fail (EMFILE, ENOSPC, EIO, a failed rename) and then
 * check, after reopening without faults, that every write the World confirmed is there.
 */
const original = { ...fileSystem };
const handleMethods = new Set(['write', 'writeFile', 'sync', 'datasync', 'truncate', 'stat', 'close']);

interface Faults {
  /** Operations counted since arming. */
  count: number;
  /** Fail the operation with this number (1-based, since arming); 0 = never. */
  failAt: number;
  /** Fail every operation matching this, from arming on (a disk that stays full). */
  failAll?: RegExp;
  code: string;
  armed: boolean;
  /** The operations that were made to fail. */
  fired: string[];
  /** Every operation since arming, for messages and for tests that count attempts. */
  log: string[];
}

let faults: Faults = { count: 0, failAt: 0, code: 'EIO', armed: false, fired: [], log: [] };

function step(operation: string): void {
  if (!faults.armed) return;
  faults.count += 1;
  faults.log.push(operation);
  if (faults.count === faults.failAt || faults.failAll?.test(operation)) {
    faults.fired.push(operation);
    throw Object.assign(new Error(`${faults.code}: injected fault in ${operation}`), { code: faults.code });
  }
}

function wrapHandle(handle: FileHandle, path: string): FileHandle {
  return new Proxy(handle, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !handleMethods.has(property) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        // A close that reports an error still releases its descriptor (as close(2) does on
        // Linux), so a failed close must not leave the handle for the garbage collector.
        try {
          step(`${property} ${basename(path)}`);
        } catch (error) {
          if (property === 'close') await target.close().catch(() => {});
          throw error;
        }
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

Object.assign(fileSystem, {
  open: async (path: PathLike, ...rest: unknown[]) => {
    step(`open ${basename(String(path))}`);
    const handle = await (original.open as (...args: unknown[]) => Promise<FileHandle>)(path, ...rest);
    return wrapHandle(handle, String(path));
  },
  rename: async (from: PathLike, to: PathLike) => {
    step(`rename ${basename(String(from))} -> ${basename(String(to))}`);
    return original.rename(from, to);
  },
  unlink: async (path: PathLike) => {
    step(`unlink ${basename(String(path))}`);
    return original.unlink(path);
  },
} satisfies Partial<typeof fileSystem>);

afterEach(() => {
  faults = { count: 0, failAt: 0, code: 'EIO', armed: false, fired: [], log: [] };
});

const filler = 'é'.repeat(300);
const stepRequest = (index: number): CreateEventRequest => ({
  eventType: 'step_created',
  correlationId: `step-${index}`,
  eventData: { stepName: 'work', input: { index, filler } },
});

async function readLog(world: LocalWorld, runId: string): Promise<WorldEvent[]> {
  return (await world.events.list(runId, { limit: 1000 })).data;
}

/**
 * Writes `total` events one by one with faults armed from event `armAfter` on, then
 * reopens without faults and returns what was confirmed and what the reopened store holds.
 */
async function writeThroughFaults(options: { failAt: number; code: string; failAll?: RegExp; total?: number }) {
  const directory = await temporaryDirectory();
  const world = createLocalWorld({ dir: directory, checkpointBytes: 4096 });
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'faults' } });
  const confirmed: number[] = [];
  const total = options.total ?? 24;
  for (let index = 0; index < total; index += 1) {
    if (index === 4) {
      faults = {
        count: 0,
        failAt: options.failAt,
        code: options.code,
        armed: true,
        fired: [],
        log: [],
        ...(options.failAll ? { failAll: options.failAll } : {}),
      };
    }
    try {
      await world.events.create(run.runId, stepRequest(index));
      confirmed.push(index);
    } catch (error) {
      // A World that can no longer trust its disk stops; nothing else may fail a valid write.
      if (!WorldClosedError.is(error)) throw error;
    }
  }
  const fired = [...faults.fired];
  const log = [...faults.log];
  faults.armed = false;
  await world.close().catch(() => {});
  const reopened = createLocalWorld({ dir: directory });
  try {
    const events = await readLog(reopened, run.runId);
    const stored = events
      .filter((event) => event.eventType === 'step_created')
      .map((event) => (event.eventData as unknown as { input: { index: number } }).input.index);
    const files = await readdir(directory);
    return { confirmed, stored, fired, log, files, directory };
  } finally {
    await reopened.close();
  }
}

describe('world-local under I/O faults', () => {
  it('keeps every confirmed write when any single file operation fails, at every step of a checkpoint', async () => {
    const codes = ['EMFILE', 'ENOSPC', 'EIO'];
    let checkpointSteps = 0;
    for (let failAt = 1; ; failAt += 1) {
      const code = codes[failAt % codes.length]!;
      const outcome = await writeThroughFaults({ failAt, code });
      const lost = outcome.confirmed.filter((index) => !outcome.stored.includes(index));
      expect(lost, `confirmed writes lost when "${outcome.fired[0]}" failed with ${code}`).toEqual([]);
      // Nothing is stored twice, and nothing unconfirmed but the one in flight appears.
      expect(new Set(outcome.stored).size).toBe(outcome.stored.length);
      expect(outcome.stored.filter((index) => !outcome.confirmed.includes(index)).length).toBeLessThanOrEqual(1);
      if (outcome.fired.some((operation) => /snapshot|journal-[1-9]/.test(operation))) checkpointSteps += 1;
      if (outcome.fired.length === 0) break; // failAt ran past the last operation: every step was covered
    }
    // The sweep reached into the checkpoints, not only the appends.
    expect(checkpointSteps).toBeGreaterThan(5);
  }, 120_000);

  it('a failed rename of the snapshot leaves the old generation in charge and no temp file behind', async () => {
    const outcome = await writeThroughFaults({ failAt: 0, code: 'EXDEV', failAll: /^rename \.snapshot-/ });
    expect(outcome.fired.length).toBeGreaterThan(0);
    expect(outcome.stored).toEqual(outcome.confirmed);
    expect(outcome.confirmed).toHaveLength(24);
    expect(outcome.files.filter((file) => file.endsWith('.tmp'))).toEqual([]);
  });

  it('a disk that stays full leaves no temp files and retries checkpoints with backoff, not on every write', async () => {
    const outcome = await writeThroughFaults({ failAt: 0, code: 'ENOSPC', failAll: /^write \.snapshot-/, total: 40 });
    // Appends still work (the journal has room in this simulation); every write is kept.
    expect(outcome.stored).toEqual(outcome.confirmed);
    expect(outcome.confirmed).toHaveLength(40);
    // 36 writes past the checkpoint size, but the checkpoint was tried once, then backed off.
    expect(outcome.fired).toHaveLength(1);
    expect(outcome.files.filter((file) => file.endsWith('.tmp'))).toEqual([]);
    // The failed checkpoint's journal was removed too: one generation on disk.
    expect(outcome.files.filter((file) => file.startsWith('journal-'))).toHaveLength(1);
  });

  it('refuses writes once its directory was removed instead of confirming them', async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory });
    const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'gone' } });
    await rm(directory, { recursive: true, force: true });
    await expect(world.events.create(run.runId, stepRequest(1))).rejects.toSatisfy(WorldClosedError.is);
    await world.close().catch(() => {});
  });
});
