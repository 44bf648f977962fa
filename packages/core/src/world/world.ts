import type { Hook, Run, RunStatus, Step, Wait } from './schemas/entities.js';
import type { CreateEventRequest, WorldEvent } from './schemas/events.js';
import type { JsonValue } from './schemas/primitives.js';
import type { ConsumeOptions, QueueMessage, SendOptions } from './schemas/queue.js';
import type { ReadStreamOptions, StreamChunk, StreamInfo } from './schemas/streams.js';

/**
 * A World stores each run's append-only event log, the entity views derived from it, a
 * queue and streams. Every method validates its input first: bad input throws
 * `InvalidInputError` naming the field and value, and writes nothing. Every method on a
 * closed World rejects with `WorldClosedError`.
 */
export interface World {
  /** Short name for messages and logs, e.g. `local:/var/lib/cairn`. */
  readonly name: string;
  readonly capabilities: WorldCapabilities;
  readonly events: WorldEvents;
  readonly runs: WorldRuns;
  readonly steps: WorldSteps;
  readonly hooks: WorldHooks;
  readonly waits: WorldWaits;
  readonly queue: WorldQueue;
  readonly streams: WorldStreams;
  /**
   * Stops consumers (waiting for in-flight handlers), ends live stream reads, releases
   * storage. Idempotent. Acknowledged writes are already durable; close adds nothing to them.
   */
  close(): Promise<void>;
}

/** What a World can and cannot do, as data. The conformance suite skips on these, saying why. */
export interface WorldCapabilities {
  /**
   * Whether several processes may open the same World at once and see one consistent
   * store. When false, a second process gets `WorldUnavailableError` instead of a corrupted store.
   */
  sharedAcrossProcesses: boolean;
  /** What an acknowledged write survives: `fsync` (process and OS crash), `database` (the database's own guarantee), `memory` (nothing). */
  durability: 'fsync' | 'database' | 'memory';
  /** Largest serialized JSON payload (event data, queue message) in bytes. */
  maxPayloadBytes: number;
  /** How far ahead of the World's clock `CreateEventParams.createdAt` may be. */
  maxFutureCreatedAtMs: number;
  /** How `events.watch` learns of new events: pushed by the store, or by polling it. */
  notifications: 'push' | 'poll';
  /**
   * True when a `deliveryId` is unique within its run: an append whose `hook_received`
   * carries an id the run already holds (on any of its hooks) writes nothing and throws
   * `DuplicateDeliveryError`, naming the hook that has it. A hook delivery can then be sent
   * again after an outage without reading the run's log, and an attempt that commits late
   * can never be a second copy. Default false: the engine finds a delivery by reading the log.
   */
  uniqueDeliveryIds?: boolean;
  queue: {
    /** Longest `delayMs` honoured. */
    maxDelayMs: number;
    /** Lease a consumer gets when `consume` is not given `leaseMs`. */
    defaultLeaseMs: number;
    /** How long after a message is acknowledged its idempotency key still deduplicates. */
    idempotencyRetentionMs: number;
    /**
     * True when the World can queue a message already leased to its writer (`EnqueueRequest.claim`),
     * and settle such a claim outside a consumer (`WorldQueue.extendClaim`, `settleClaim`,
     * `CreateEventParams.acknowledge`). Default false: a claim asked of such a World is
     * queued as a plain message and reported nowhere.
     */
    claims?: boolean;
  };
  streams: {
    /** Largest chunk in bytes (UTF-8 bytes for text). */
    maxChunkBytes: number;
    /**
     * True when the append that ends a run (`run_completed`, `run_failed`, `run_cancelled`)
     * also closes every open stream of the run, atomically with it, waking their live
     * readers; from then on a write to any stream of the run, one it never had included,
     * is `StreamClosedError` and creates nothing, so no stream opens after the end with
     * nothing left to close it, and a read of a stream the run never had ends, empty (one
     * that was waiting for it may take the World's polling interval to notice). The engine
     * then leaves the closing to the World; otherwise it lists and closes the run's streams
     * itself after the run ends. Default false.
     */
    closedWithRun?: boolean;
  };
}

/**
 * Options of an append: the optimistic-concurrency fence for replay-derived writes, a
 * commit stamp chosen by the writer, and an outbox.
 */
export interface CreateEventParams {
  /**
   * The id of the last event the writer has seen. The append commits only if this is
   * still the run's tail; otherwise nothing is written and `FenceConflictError` (carrying
   * the current tail) is thrown. Check and append are one atomic operation.
   */
  lastKnownEventId?: string;
  /**
   * The World resolves the fence itself: the tail as of this instant is the last event
   * whose `createdAt` is strictly before it (none if the run had no such event), then the
   * `lastKnownEventId` rule applies. Ignored when `lastKnownEventId` is given. It is only as
   * exact as the World's clock: a World that stamps `createdAt` a moment before its commit
   * (a database) can count an event that a reader at that instant could not yet see. Use
   * `lastKnownEventId` where the fence must be exact; the engine always does.
   */
  asOfTimestamp?: number;
  /**
   * Stamp every event of this append with this `createdAt` instead of the World's clock.
   * A writer that derived events from a predicted commit time (the engine feeding a step's
   * completion to a live replay before writing it) uses this to make the prediction exact,
   * so replays see the same time the first execution saw. Accepted only when it is not
   * before the World's current time, not before the run's last `createdAt`, and at most
   * `capabilities.maxFutureCreatedAtMs` ahead; otherwise nothing is written and
   * `FenceConflictError` is thrown. A stamp in the future can only make an `asOfTimestamp`
   * fence conflict spuriously; it can never let a stale write through.
   */
  createdAt?: number;
  /**
   * Messages to queue if, and only if, this append commits: a transactional outbox. A
   * writer whose events imply work (a step to run elsewhere, a run to wake) sends that
   * work with them, so a crash can never leave one without the other. Each message follows
   * `queue.send`'s rules (an idempotency key deduplicates). At most 1000.
   */
  enqueue?: readonly EnqueueRequest[];
  /**
   * Claims (see `EnqueueRequest.claim`) to acknowledge if, and only if, this append
   * commits, as `settleClaim(claim, { acknowledge: true })` would. A claim whose lease was
   * already lost is left alone, and the append still commits. Ignored by a World without
   * `capabilities.queue.claims`. At most 1000.
   */
  acknowledge?: readonly QueueClaim[];
}

/** One message for `CreateEventParams.enqueue`: what `queue.send` would take. */
export interface EnqueueRequest {
  topic: string;
  payload: JsonValue;
  options?: SendOptions;
  /**
   * Queue the message already leased to the writer for `leaseMs`, as if a consumer of the
   * topic had just leased it (its first delivery): no consumer gets it before that lease
   * runs out, and its group, if it has one, is held under the same lease. The writer does
   * the work itself and settles the claim (`CreateEventParams.acknowledge`,
   * `WorldQueue.settleClaim`); if it never does (it crashed), the message is delivered
   * when the lease runs out, `attempt` 2, as after any lost lease. This spares a writer
   * that will handle its own message a trip through the queue.
   *
   * Only with `capabilities.queue.claims`; other Worlds queue a plain message. When the
   * message's group is already leased, it is queued unclaimed, to wait its turn. Reported
   * in `CreateEventResult.claims` when it holds. Not with `options.delayMs` or
   * `options.idempotencyKey` (`InvalidInputError`).
   *
   * `messageId` and `token`, when given, are the claim's ids (the message's id even when
   * its group was busy); otherwise the World mints them. A writer that names them can still
   * settle the claim when the append's answer never reached it (the connection dropped
   * after the commit): it hands back a claim it cannot tell was taken, and a settlement of
   * one that was not resolves false. The writer must make them unique, as a ULID is; a
   * `messageId` already in the queue is an `InvalidInputError` naming it, and nothing is
   * written.
   */
  claim?: { leaseMs: number; messageId?: string; token?: string };
}

/**
 * A message leased to the writer that queued it (`EnqueueRequest.claim`). Opaque to the
 * writer: it hands the object back to settle the claim.
 */
export interface QueueClaim {
  topic: string;
  messageId: string;
  /** The lease's token: only a settlement naming it counts, and only while the lease lasts. */
  token: string;
  groupKey?: string;
}

/** The committed event and the entities it touched, as they are right after it. */
export interface CreateEventResult {
  event: WorldEvent;
  run: Run;
  step?: Step;
  hook?: Hook;
  wait?: Wait;
  /**
   * The claims this append's outbox holds (`EnqueueRequest.claim`), in `enqueue` order,
   * without those whose group was busy. The same on every result of a batch; absent when
   * none was asked for or held.
   */
  claims?: readonly QueueClaim[];
}

export interface ListEventsOptions {
  /** Return events with `seq` greater than this. Default 0 (from the start). */
  afterSeq?: number;
  /** Default 100, at most 1000. */
  limit?: number;
}

export interface WatchOptions {
  /**
   * The caller waits only for the run to end. A World may then keep waiting past events
   * that leave the run going, and resolve once an event ends it (with that tail), which
   * spares a caller far from the World a round trip per event. A World may also ignore
   * it and resolve at the first new event, as without it. Default false.
   */
  untilEnded?: boolean;
}

export interface EventPage {
  /** In `seq` order, dense: the page holds every event in its range. */
  data: WorldEvent[];
  /** True when events exist after the last one returned; page on with its `seq` as `afterSeq`. */
  hasMore: boolean;
}

export interface Page<Item> {
  data: Item[];
  /** Pass back as `cursor` for the next page; null when this is the last. */
  cursor: string | null;
}

export interface PageOptions {
  cursor?: string;
  /** Default 100, at most 1000. */
  limit?: number;
}

export interface ListRunsOptions extends PageOptions {
  status?: RunStatus;
  workflowName?: string;
}

/**
 * The per-run event logs. Appends are atomic with every entity rule:
 * - `RunNotFoundError`: the run does not exist (any event but run_created).
 * - `EntityConflictError`: a client-chosen run id already exists; a second
 *   step_created/hook_created/wait_created for one correlation id; an event on a terminal
 *   step; a second wait_completed; a second run_started; run_waiting on a run that is no
 *   longer pending.
 * - `StepNotFoundError` / `WaitNotFoundError`: an event names a step or wait that was never created.
 * - `RunTerminalError`: any event on a completed, failed or cancelled run.
 * - `HookTokenConflictError`: hook_created with a token another live hook holds.
 * - `HookNotFoundError`: hook_received or hook_disposed for a missing or disposed hook
 *   (so a second hook_disposed is a `HookNotFoundError`).
 * - `FenceConflictError`: the fence in `params` no longer names the tail.
 * Each of these writes nothing.
 */
export interface WorldEvents {
  /**
   * Appends one event. For `run_created`, `runId` may be null (the World mints a ULID) or
   * client-chosen; the run's status is `pending`. Resolves once the event is durable.
   */
  create(runId: string | null, request: CreateEventRequest, params?: CreateEventParams): Promise<CreateEventResult>;
  /**
   * Appends events atomically at consecutive positions under one fence: all commit or
   * none does, and each is checked against the state the earlier ones leave. Only the
   * first request may be run_created (then `runId` may be null). At most 1000 requests.
   * Results come in request order.
   */
  createBatch(
    runId: string | null,
    requests: readonly CreateEventRequest[],
    params?: CreateEventParams,
  ): Promise<CreateEventResult[]>;
  /** Pages the log in `seq` order, with no gaps. Throws `RunNotFoundError`. */
  list(runId: string, options?: ListEventsOptions): Promise<EventPage>;
  /** Throws `RunNotFoundError` or `EventNotFoundError`. */
  get(runId: string, eventId: string): Promise<WorldEvent>;
  /**
   * Resolves once the run's log holds an event with `seq` greater than `afterSeq`
   * (at once if it already does), or when `signal` aborts. Worlds that can push (an
   * in-process emitter, LISTEN/NOTIFY, pub/sub) wake without polling; see
   * `capabilities.notifications`. Throws `RunNotFoundError`.
   *
   * A World that learns the run's new tail along with the wake-up (a notification that
   * carries it) may resolve with it as a `WatchedTail`, which spares the caller a read;
   * otherwise it resolves with nothing. Callers must treat both alike.
   *
   * `options.untilEnded` is a hint (see `WatchOptions`); a bad value is `InvalidInputError`
   * naming `options.untilEnded`.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a World written before tails were reported resolves with nothing, and stays valid.
  watch(runId: string, afterSeq: number, signal?: AbortSignal, options?: WatchOptions): Promise<WatchedTail | void>;
}

/**
 * The run as a watch saw it when it resolved: the `seq` of an event past `afterSeq` and the
 * run's status right after that event. Later events may exist by the time it arrives.
 */
export interface WatchedTail {
  lastSeq: number;
  status: RunStatus;
  /**
   * Only with a terminal `status`, and only when the World has it at hand: the ended run,
   * exactly as `runs.get` returns it. An ended run never changes again, so a caller waiting
   * for its outcome needs no read. A fresh object each time; optional, like the tail itself.
   */
  run?: Run;
}

export interface WorldRuns {
  /** Throws `RunNotFoundError`. */
  get(runId: string): Promise<Run>;
  /** Newest first (by creation), filtered by status and workflow name when given. */
  list(options?: ListRunsOptions): Promise<Page<Run>>;
}

export interface WorldSteps {
  /** Throws `RunNotFoundError` or `StepNotFoundError`. */
  get(runId: string, stepId: string): Promise<Step>;
  /** In creation order. Throws `RunNotFoundError`. */
  list(runId: string, options?: PageOptions): Promise<Page<Step>>;
}

export interface WorldHooks {
  /** Active or disposed. Throws `RunNotFoundError` or `HookNotFoundError`. */
  get(runId: string, hookId: string): Promise<Hook>;
  /** The live hook holding `token`, across all runs. Throws `HookNotFoundError`. */
  getByToken(token: string): Promise<Hook>;
  /** In creation order, disposed ones included. Throws `RunNotFoundError`. */
  list(runId: string, options?: PageOptions): Promise<Page<Hook>>;
}

export interface WorldWaits {
  /** Throws `RunNotFoundError` or `WaitNotFoundError`. */
  get(runId: string, waitId: string): Promise<Wait>;
  /** In creation order. Throws `RunNotFoundError`. */
  list(runId: string, options?: PageOptions): Promise<Page<Wait>>;
}

export interface SendResult {
  messageId: string;
  /** True when an earlier send with the same idempotency key was found; no new message was queued. */
  deduplicated: boolean;
}

/** Control over one delivery, given to the handler beside the message. */
export interface DeliveryControl {
  /**
   * Extends this delivery's lease to `leaseMs` from now (default: the consumer's `leaseMs`),
   * so a handler that is still making progress keeps the message. Resolves true when
   * extended, false when the lease was already lost (it expired and the message may be with
   * another consumer, or the delivery was settled); the handler should then stop work it
   * cannot safely share. Throws `InvalidInputError` for a bad `leaseMs`.
   */
  extendLease(leaseMs?: number): Promise<boolean>;
  /**
   * This delivery's lease as a claim, on a World whose appends can acknowledge one
   * (`capabilities.queue.claims`); undefined elsewhere. An append that lists it in
   * `CreateEventParams.acknowledge` settles the delivery in the append's own commit;
   * `WorldQueue.extendClaim` and `settleClaim` take it too.
   */
  readonly claim?: QueueClaim;
  /**
   * Tells the consumer that a committed append acknowledged `claim`, so resolving the handler
   * writes no acknowledgement of its own. Present exactly when `claim` is. A handler that
   * rejects after this is handed back as usual; the lease is gone by then, so that changes
   * nothing.
   */
  acknowledgedByAppend?(): void;
}

/**
 * Handles one delivery. Resolving acknowledges the message; rejecting (or running past
 * the lease) hands it back for redelivery with backoff, same `messageId`, `attempt` + 1.
 * A handler that needs longer than its lease calls `delivery.extendLease()`; one that
 * does not need it may ignore the second argument.
 */
export type QueueHandler = (message: QueueMessage, delivery: DeliveryControl) => Promise<void>;

export interface QueueConsumer {
  /** Stops taking messages and resolves once in-flight handlers have settled. Idempotent. */
  stop(): Promise<void>;
}

/**
 * At-least-once delivery per topic. A send resolves once the message is durable.
 * - `delayMs`: never delivered before `enqueuedAt + delayMs`.
 * - `idempotencyKey`: a second send with the same key on the same topic, while the first is
 *   queued or within `capabilities.queue.idempotencyRetentionMs` of its ack, returns the
 *   first message's id with `deduplicated: true` and queues nothing.
 * - `groupKey`: at most one message of a group (per topic) is leased at a time, across
 *   every consumer and process; the others wait their turn in send order, except that a
 *   message handed back for a retry may be overtaken by its group's next message.
 * - Lease: a delivery not settled within `leaseMs` is handed to another consumer; the late
 *   settlement of the first is ignored.
 */
export interface WorldQueue {
  send(topic: string, payload: JsonValue, options?: SendOptions): Promise<SendResult>;
  /**
   * Delivers `topic`'s messages to `handler`, at most `concurrency` (default 1) at once.
   * Backoff after a rejection: `retryBackoff` (default 100 ms, factor 2, capped at 30 s).
   */
  consume(topic: string, handler: QueueHandler, options?: ConsumeOptions): QueueConsumer;
  /**
   * Only with `capabilities.queue.claims`. Extends a claim's lease to `leaseMs` from now,
   * as `DeliveryControl.extendLease` does for a delivery. Resolves false when the claim was
   * already lost or settled. Throws `InvalidInputError` for a bad claim or `leaseMs`.
   *
   * A delivery's claim (`DeliveryControl.claim`) extended this way is kept exactly as by
   * `extendLease`, when the consumer running it is in this process: its slot stays taken and
   * its settlement is written however long past the original lease the handler runs. From
   * another process, only the stored lease moves: the consumer still gives the delivery up
   * when the lease it knows of runs out, so a handler running past that has its message
   * delivered again.
   */
  extendClaim?(claim: QueueClaim, leaseMs: number): Promise<boolean>;
  /**
   * Only with `capabilities.queue.claims`. Settles a claim as a consumer's handler would:
   * `acknowledge` ends the message (releasing its group); `retryAfterMs` hands it back, to
   * be delivered to a consumer after that long, `attempt` 2. Resolves false when the claim
   * was already lost or settled (nothing changes then). Throws `InvalidInputError` for a
   * bad claim or outcome.
   *
   * A delivery's claim settled this way stays settled: how its handler then ends changes
   * nothing, and the delivery keeps its consumer slot until the handler is done.
   */
  settleClaim?(claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean>;
}

/** How a claim ends: its work done, or handed back for a consumer to do. */
export type ClaimOutcome = { acknowledge: true } | { retryAfterMs: number };

/**
 * Named, per-run, ordered chunk streams. Concurrent writers never lose, duplicate, split
 * or interleave a chunk: each `write` is one chunk at one index.
 */
export interface WorldStreams {
  /**
   * Appends one chunk; resolves with its index once durable. Creates the stream on first
   * write. With `idempotencyKey`, a second write carrying the same key to the same stream
   * writes nothing and resolves with the first write's index: a writer that may run twice
   * (a step retried after a crash) still adds its chunk once. Throws `RunNotFoundError`,
   * `StreamClosedError` (the stream is closed, or, with `capabilities.streams.closedWithRun`,
   * its run has ended).
   */
  write(
    runId: string,
    name: string,
    chunk: string | Uint8Array,
    options?: { idempotencyKey?: string },
  ): Promise<{ index: number }>;
  /** Closes the stream (creating it empty if needed). Idempotent. Throws `RunNotFoundError`. */
  close(runId: string, name: string): Promise<void>;
  /**
   * Yields chunks from `fromIndex` (default 0; negative counts back from the tail when the
   * read starts), then follows new chunks live until the stream is closed, the signal
   * aborts or the World closes. A stream that does not exist yet is waited for (with
   * `capabilities.streams.closedWithRun`, until the run ends). Throws `RunNotFoundError`
   * on the first iteration.
   */
  read(runId: string, name: string, options?: ReadStreamOptions): AsyncIterable<StreamChunk>;
  /** Every stream of the run, in creation order. Throws `RunNotFoundError`. */
  list(runId: string): Promise<StreamInfo[]>;
}
