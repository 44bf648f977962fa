import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { eventSchema, type Run, type World, type WorldEvent, WorldUnavailableError } from '@cairn/core/world';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type * as LocalWorldModule from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

/*
 * SIGKILL a writer process at random instants and prove that everything it was told is
 * durable is there, exactly as acknowledged, and that what it left behind is a valid store.
 *
 * The parent loads world-local from dist, the same build the child runs, so both sides of
 * every crash read and write one on-disk format.
 */
const fixture = join(import.meta.dirname, 'fixtures/crash-writer.mjs');
const distEntry = join(import.meta.dirname, '../dist/index.js');
let createLocalWorld: typeof LocalWorldModule.createLocalWorld;

const soak = process.env.CAIRN_SOAK === '1';
const iterations = soak ? 300 : 12;
/** Soak runs move to a fresh directory every so often, so state (held in memory) stays bounded. */
const iterationsPerDirectory = soak ? 25 : iterations;
/** Small, so the writer checkpoints (snapshot + fresh journal) every iteration or two and kills land in those too. */
const childCheckpointBytes = 2 * 1024 * 1024;
const topic = 'crash-test';

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

type EventAck = { runId: string; seq: number; eventId: string; eventType: string; correlationId: string; hash: string };
type QueueAck = { messageId: string; idempotencyKey: string; hash: string };
type StreamAck = { runId: string; name: string; index: number; hash: string };
type Ack = ({ kind: 'event' } & EventAck) | ({ kind: 'queue' } & QueueAck) | ({ kind: 'stream' } & StreamAck);

function parseAck(line: string): Ack {
  const [tag, kind, ...fields] = line.split(' ');
  if (tag === 'ACK' && kind === 'event' && fields.length === 6) {
    const [runId, seq, eventId, eventType, correlationId, hash] = fields as [string, ...string[]];
    return { kind, runId, seq: Number(seq), eventId, eventType, correlationId, hash } as Ack;
  }
  if (tag === 'ACK' && kind === 'queue' && fields.length === 3) {
    const [messageId, idempotencyKey, hash] = fields as [string, string, string];
    return { kind, messageId, idempotencyKey, hash };
  }
  if (tag === 'ACK' && kind === 'stream' && fields.length === 4) {
    const [runId, name, index, hash] = fields as [string, string, string, string];
    return { kind, runId, name, index: Number(index), hash };
  }
  throw new Error(`unexpected line from the child: ${JSON.stringify(line)}`);
}

interface Child {
  pid: number;
  lines: string[];
  /** Resolves once `predicate` holds for the lines so far; rejects if the child exits first. */
  until(predicate: (lines: string[]) => boolean, what: string): Promise<void>;
  /** Resolves when the child has exited and its stdout has been read to the end. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(): void;
}

const children = new Set<ChildProcessByStdio<Writable, Readable, Readable>>();

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

/** Spawns the fixture and parses its stdout line by line as it arrives. */
function spawnFixture(args: string[]): Child {
  // stdin is a pipe the child watches: it exits if this process dies without killing it.
  const child = spawn(process.execPath, [fixture, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });
  let exited = false;
  void closed.then(() => {
    exited = true;
  });
  const describeExit = () => `the child exited before that (stderr: ${stderr.trim() || '(empty)'})`;
  return {
    pid: child.pid ?? -1,
    lines,
    closed,
    stderr: () => stderr,
    kill: () => child.kill('SIGKILL'),
    until: (predicate, what) =>
      within(
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (predicate(lines)) {
              waiters.delete(check);
              resolve();
            } else if (exited || child.exitCode !== null || child.signalCode !== null) {
              waiters.delete(check);
              reject(new Error(`waiting for ${what}: ${describeExit()}`));
            }
          };
          waiters.add(check);
          check();
        }),
        30_000,
        what,
      ),
  };
}

/** Everything the writer children acknowledged for one directory, across every kill. */
class Ledger {
  readonly events = new Map<string, Map<number, EventAck>>();
  readonly messages = new Map<string, QueueAck>();
  readonly chunks = new Map<string, Map<number, StreamAck>>();
  eventCount = 0;
  chunkCount = 0;

  add(ack: Ack): void {
    if (ack.kind === 'event') {
      const run = this.events.get(ack.runId) ?? new Map<number, EventAck>();
      this.events.set(ack.runId, run);
      expect(run.has(ack.seq), `seq ${ack.seq} of run ${ack.runId} acknowledged twice`).toBe(false);
      run.set(ack.seq, ack);
      this.eventCount++;
    } else if (ack.kind === 'queue') {
      expect(this.messages.has(ack.messageId), `message ${ack.messageId} acknowledged twice`).toBe(false);
      this.messages.set(ack.messageId, ack);
    } else {
      const key = `${ack.runId}\u0000${ack.name}`;
      const stream = this.chunks.get(key) ?? new Map<number, StreamAck>();
      this.chunks.set(key, stream);
      expect(stream.has(ack.index), `chunk ${ack.index} of ${key} acknowledged twice`).toBe(false);
      stream.set(ack.index, ack);
      this.chunkCount++;
    }
  }
}

async function allRuns(world: World): Promise<Run[]> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  do {
    const page = await world.runs.list({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    runs.push(...page.data);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return runs;
}

async function allEvents(world: World, runId: string): Promise<WorldEvent[]> {
  const events: WorldEvent[] = [];
  for (;;) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    if (!page.hasMore) return events;
    expect(page.data.length, `a page of run ${runId} with hasMore was empty`).toBeGreaterThan(0);
  }
}

async function stepCount(world: World, runId: string): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await world.steps.list(runId, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    count += page.data.length;
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return count;
}

/**
 * Checks every run's log, view and stream against the schema, the entity rules and the
 * ledger. Returns how many events the store holds.
 */
async function verifyStore(world: World, ledger: Ledger, context: string): Promise<number> {
  let stored = 0;
  const runs = await allRuns(world);
  const runIds = new Set(runs.map((run) => run.runId));
  for (const runId of ledger.events.keys())
    expect(runIds.has(runId), `${context}: acked run ${runId} is gone`).toBe(true);

  for (const run of runs) {
    const events = await allEvents(world, run.runId);
    stored += events.length;
    const where = `${context}, run ${run.runId}`;
    // Dense 1..n, ids sorting like seq, time never going back, every event a valid stored event.
    expect(
      events.map((event) => event.seq),
      `${where}: log is not dense`,
    ).toEqual(events.map((_, index) => index + 1));
    for (const [index, event] of events.entries()) {
      const parsed = eventSchema.safeParse(event);
      expect(parsed.success, `${where}: seq ${event.seq} fails eventSchema: ${parsed.error?.message}`).toBe(true);
      expect(event.runId).toBe(run.runId);
      const previous = events[index - 1];
      if (previous) {
        expect(previous.eventId < event.eventId, `${where}: eventId order at seq ${event.seq}`).toBe(true);
        expect(previous.createdAt, `${where}: createdAt went back at seq ${event.seq}`).toBeLessThanOrEqual(
          event.createdAt,
        );
      }
    }
    expect(events[0]?.eventType, `${where}: first event`).toBe('run_created');
    expect({ lastSeq: run.lastSeq, lastEventId: run.lastEventId }, `${where}: run view vs log tail`).toEqual({
      lastSeq: events.length,
      lastEventId: events.at(-1)?.eventId,
    });
    // Entity rules held through every crash: one step_created per step, completions only of created steps, once.
    const created = new Set<string>();
    const completed = new Set<string>();
    for (const event of events) {
      if (event.eventType === 'step_created') {
        expect(created.has(event.correlationId), `${where}: step ${event.correlationId} created twice`).toBe(false);
        created.add(event.correlationId);
      } else if (event.eventType === 'step_completed') {
        expect(created.has(event.correlationId), `${where}: ${event.correlationId} completed before created`).toBe(
          true,
        );
        expect(completed.has(event.correlationId), `${where}: ${event.correlationId} completed twice`).toBe(false);
        completed.add(event.correlationId);
      }
    }
    expect(await stepCount(world, run.runId), `${where}: steps view vs step_created events`).toBe(created.size);

    // Every acknowledged event, exactly as acknowledged.
    for (const ack of ledger.events.get(run.runId)?.values() ?? []) {
      const event = events[ack.seq - 1];
      expect(event, `${where}: acknowledged seq ${ack.seq} (${ack.eventId}) is missing`).toBeDefined();
      expect(
        {
          seq: event?.seq,
          eventId: event?.eventId,
          eventType: event?.eventType,
          correlationId: event?.correlationId ?? '-',
          hash: sha1(canonical(event?.eventData ?? null)),
        },
        `${where}: acknowledged seq ${ack.seq} differs`,
      ).toEqual({
        seq: ack.seq,
        eventId: ack.eventId,
        eventType: ack.eventType,
        correlationId: ack.correlationId,
        hash: ack.hash,
      });
    }
  }

  // Every acknowledged stream chunk at its index, and the stream dense up to its count.
  for (const acks of ledger.chunks.values()) {
    const [first] = acks.values();
    if (!first) continue;
    const { runId, name } = first;
    const where = `${context}, stream ${name} of run ${runId}`;
    const info = (await world.streams.list(runId)).find((stream) => stream.name === name);
    const highest = Math.max(...acks.keys());
    expect(info?.chunkCount ?? 0, `${where}: chunk count`).toBeGreaterThan(highest);
    const hashes: string[] = [];
    // The stream is never closed, so the read would follow it live: stop after the last chunk.
    // The timeout only bounds a hang; the assertion below says what was missing.
    for await (const chunk of world.streams.read(runId, name, { fromIndex: 0, signal: AbortSignal.timeout(10_000) })) {
      expect(chunk.index, `${where}: chunk order`).toBe(hashes.length);
      hashes.push(sha1(canonical(chunk.data)));
      if (hashes.length === info?.chunkCount) break;
    }
    expect(hashes.length, `${where}: chunks read`).toBe(info?.chunkCount);
    for (const ack of acks.values()) expect(hashes[ack.index], `${where}: chunk ${ack.index}`).toBe(ack.hash);
  }
  return stored;
}

/** Consumes the topic until every acknowledged message has been delivered, with its payload intact. */
async function drainQueue(world: World, ledger: Ledger, context: string): Promise<number> {
  const delivered = new Map<string, string>();
  const missing = () => [...ledger.messages.keys()].filter((messageId) => !delivered.has(messageId));
  let done!: () => void;
  const allDelivered = new Promise<void>((resolve) => {
    done = resolve;
  });
  if (missing().length === 0) done();
  const consumer = world.queue.consume(
    topic,
    async (message) => {
      delivered.set(message.messageId, sha1(canonical(message.payload)));
      if (missing().length === 0) done();
    },
    { concurrency: 16 },
  );
  try {
    await within(allDelivered, 20_000, 'every acknowledged queue message').catch(() => {});
  } finally {
    await consumer.stop();
  }
  expect(missing(), `${context}: acknowledged messages never delivered`).toEqual([]);
  for (const ack of ledger.messages.values()) {
    expect(delivered.get(ack.messageId), `${context}: payload of ${ack.messageId}`).toBe(ack.hash);
  }
  return delivered.size;
}

/** The live journal's size: open cuts a torn tail off it, so a shrink on open means a kill landed mid-write. */
async function journalSize(directory: string): Promise<number> {
  const generations = (await readdir(directory))
    .map((file) => /^journal-(\d+)\.cairn$/.exec(file)?.[1])
    .filter((generation) => generation !== undefined)
    .map(Number);
  if (generations.length === 0) return 0;
  return (await stat(join(directory, `journal-${Math.max(...generations)}.cairn`))).size;
}

beforeAll(async () => {
  if (!existsSync(distEntry)) throw new Error(`${distEntry} is missing: build @cairn/world-local first`);
  ({ createLocalWorld } = (await import(pathToFileURL(distEntry).href)) as typeof LocalWorldModule);
});

describe('world-local under SIGKILL', () => {
  it(
    `keeps every acknowledged write through ${iterations} kills at random instants`,
    async () => {
      const totals = {
        events: 0,
        unacknowledged: 0,
        messages: 0,
        chunks: 0,
        runs: 0,
        tornTails: 0,
        delivered: 0,
        checkpoints: 0,
        strayFiles: 0,
      };
      let directory = '';
      let ledger = new Ledger();

      for (let iteration = 0; iteration < iterations; iteration++) {
        if (iteration % iterationsPerDirectory === 0) {
          directory = await temporaryDirectory();
          ledger = new Ledger();
        }
        const context = `iteration ${iteration + 1}/${iterations} (${directory})`;

        const child = spawnFixture(['write', directory, String(childCheckpointBytes)]);
        const target = randomInt(5, 61);
        await child.until((lines) => lines.length >= target, `${target} ACK lines from the writer`);
        // Deliberate randomisation of the kill instant (not a wait for a condition): the
        // child keeps writing, so the kill lands mid-group, mid-fsync or mid-checkpoint.
        await new Promise((resolve) => setTimeout(resolve, randomInt(0, 16)));
        child.kill();
        const exit = await child.closed;
        expect(exit.signal, `${context}: the writer died on its own (code ${exit.code}): ${child.stderr()}`).toBe(
          'SIGKILL',
        );
        const acks = child.lines.map(parseAck);
        for (const ack of acks) ledger.add(ack);
        totals.events += acks.filter((ack) => ack.kind === 'event').length;

        const sizeBefore = await journalSize(directory);
        const world = createLocalWorld({ dir: directory });
        try {
          // Opening takes over the dead writer's lock and cuts any torn tail.
          await world.open();
          if ((await journalSize(directory)) < sizeBefore) totals.tornTails++;
          const stored = await verifyStore(world, ledger, context);
          // The idempotency index survived too: re-sending the last acknowledged key finds the message.
          const lastMessage = [...ledger.messages.values()].at(-1);
          if (lastMessage) {
            const again = await world.queue.send(
              topic,
              { resend: true },
              { idempotencyKey: lastMessage.idempotencyKey },
            );
            expect(again, `${context}: re-send of ${lastMessage.idempotencyKey}`).toEqual({
              messageId: lastMessage.messageId,
              deduplicated: true,
            });
          }
          const lastInDirectory = iteration === iterations - 1 || (iteration + 1) % iterationsPerDirectory === 0;
          if (lastInDirectory) {
            totals.delivered += await drainQueue(world, ledger, context);
            totals.messages += ledger.messages.size;
            totals.chunks += ledger.chunkCount;
            totals.runs += ledger.events.size;
            // Committed, but the kill came before the child could print the ACK.
            totals.unacknowledged += stored - ledger.eventCount;
            const files = await readdir(directory);
            totals.checkpoints += Math.max(
              0,
              ...files.map((file) => Number(/^snapshot-(\d+)\.cairn$/.exec(file)?.[1] ?? 0)),
            );
            // Temp snapshots a kill left mid-checkpoint; harmless (never read), but nothing removes them.
            totals.strayFiles += files.filter((file) => file.endsWith('.tmp')).length;
          }
        } finally {
          // Released before the next writer starts, so it can take the directory.
          await world.close();
        }
      }

      console.log(
        `crash test: ${iterations} SIGKILLs; acknowledged ${totals.events} events in ${totals.runs} runs ` +
          `(+${totals.unacknowledged} committed but not yet acknowledged at the kill), ` +
          `${totals.messages} queue messages (${totals.delivered} delivered, unacknowledged ones included), ` +
          `${totals.chunks} stream chunks: all present and intact. Checkpoints: ${totals.checkpoints}; ` +
          `torn journal tails cut off on reopen: ${totals.tornTails}; temp snapshots left by kills: ${totals.strayFiles}.`,
      );
    },
    soak ? iterations * 20_000 : 120_000,
  );

  it('refuses a directory another live process holds, naming the directory, and takes it over once that process dies', async () => {
    const directory = await temporaryDirectory();
    const holder = spawnFixture(['hold', directory]);
    await holder.until((lines) => lines.includes('READY'), 'the holder to open the directory');

    const world = createLocalWorld({ dir: directory });
    const error = await world.runs.list().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    await world.close();
    expect(WorldUnavailableError.is(error), `expected WorldUnavailableError, got ${String(error)}`).toBe(true);
    expect((error as WorldUnavailableError).message).toContain(directory);
    expect((error as WorldUnavailableError).location).toBe(directory);
    expect((error as WorldUnavailableError).retryable).toBe(true);

    holder.kill();
    expect((await holder.closed).signal).toBe('SIGKILL');
    const after = createLocalWorld({ dir: directory });
    try {
      // The dead holder's lock is taken over, and what it committed is there.
      const run = await after.runs.get('held-run');
      expect(run).toMatchObject({ runId: 'held-run', workflowName: 'held', status: 'pending', lastSeq: 1 });
    } finally {
      await after.close();
    }
  });
});
