import { encode } from '../workflow/serialization.js';
import { DuplicateDeliveryError } from '../world/errors/duplicate-delivery-error.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { HookNotFoundError } from '../world/errors/hook-not-found-error.js';
import { type RetryBackoff, retryBackoffMs } from '../world/queue-delivery.js';
import type { Hook } from '../world/schemas/entities.js';
import type { WorldEventOf } from '../world/schemas/events.js';
import { deliveryIdSchema, type JsonValue, limits } from '../world/schemas/primitives.js';
import { ulid } from '../world/ulid.js';
import { parseInput } from '../world/validation.js';
import type { EnqueueRequest, World } from '../world/world.js';
import { type PassHost, passHostFor } from './claimed-passes.js';
import type { ResumeHookOptions } from './client.js';
import { rememberClientAppend } from './client-appends.js';
import { appendFromClient } from './client-stamps.js';
import { pause, waitForToken } from './client-waits.js';
import { isOutage } from './write-refusals.js';

/** How long a delivery that met an outage keeps trying to learn its fate, when the caller set no timeout. */
export const defaultRecoveryMs = 30_000;

/*
 * Between attempts after an outage: short at first, because most outages a delivery meets
 * are a dropped connection and the next one works; growing, so a World that is down for a
 * while is not hammered.
 */
const recoveryBackoff: RetryBackoff = { initialMs: 10, factor: 2, maxMs: 1000 };

export interface Delivered {
  runId: string;
  hookId: string;
}

/** The run's wake for a delivery; `claimFor` a host here that takes the pass itself. */
export type WakeMessage = (runId: string, claimFor?: PassHost) => EnqueueRequest;

/**
 * `resumeHook`: delivers `payload` to the live hook holding `token`, exactly once.
 *
 * Every delivery carries an id in its `hook_received` event. The common case is one append.
 * An append that fails with an outage (the World may have committed it and lost the reply)
 * must not simply land twice. Where the World keeps delivery ids unique in a run, it refuses
 * the repeat, so the same append is sent again. Elsewhere the delivery reads the run's log
 * for its own id, and resolves if it is there; if it is not, it appends again fenced on the
 * tail it read, so that if the first attempt commits after that read, the fence fails and
 * the next read finds it. With a caller-chosen id such a World's log is read before the
 * first append too, so a delivery repeated by another call (another process, a retry after
 * an error) is not written again.
 */
export async function deliverToHook(
  world: World,
  wake: WakeMessage,
  token: string,
  payload: unknown,
  options: ResumeHookOptions,
): Promise<Delivered> {
  const encoded = encode(payload, 'hook payload');
  const chosen =
    options.deliveryId === undefined
      ? undefined
      : parseInput(deliveryIdSchema, options.deliveryId, 'options.deliveryId');
  const delivery = { world, wake, payload: encoded, deliveryId: chosen ?? ulid(), readFirst: chosen !== undefined };
  const wait = waitForToken(world, token, options);
  const recovery = new Recovery(options);
  for (;;) {
    const hook = await wait.next();
    try {
      return await deliverTo(delivery, hook, recovery);
    } catch (error) {
      // Disposed between the lookup and the append: wait for the token's next holder. The
      // delivery cannot have landed on the disposed hook; deliverTo made sure of that.
      if (!HookNotFoundError.is(error)) throw error;
    }
  }
}

interface Delivery {
  world: World;
  wake: WakeMessage;
  payload: JsonValue;
  deliveryId: string;
  /** Read the log before the first append (the id is the caller's, so it may be there already). */
  readFirst: boolean;
}

/** Delivers to `hook`; throws `HookNotFoundError` only once sure nothing landed on it. */
async function deliverTo(delivery: Delivery, hook: Hook, recovery: Recovery): Promise<Delivered> {
  return delivery.world.capabilities.uniqueDeliveryIds === true
    ? deliverByUniqueId(delivery, hook, recovery)
    : deliverByReading(delivery, hook, recovery);
}

/**
 * On a World that refuses a delivery id its run already holds, a delivery is the same
 * append sent until an answer is certain: `DuplicateDeliveryError` means an earlier attempt
 * (this call's, or another's with the caller's id) landed, and an attempt that commits late
 * is refused in turn. Nothing is read first, so a delivery costs the same however long the
 * run's log is. The log is read only when an attempt in doubt is followed by a refusal (the
 * run ended, the hook went), to tell whether the earlier attempt got in first.
 */
async function deliverByUniqueId(delivery: Delivery, hook: Hook, recovery: Recovery): Promise<Delivered> {
  let inDoubt = false;
  for (;;) {
    try {
      await append(delivery, hook, undefined);
      return { runId: hook.runId, hookId: hook.hookId };
    } catch (error) {
      if (DuplicateDeliveryError.is(error)) return landedEarlier(delivery.world, hook, error);
      if (!isOutage(error)) {
        if (inDoubt) return deliverByReading({ ...delivery, readFirst: true }, hook, recovery, error);
        throw error;
      }
      inDoubt = true;
      await recovery.after(error);
    }
  }
}

/**
 * The run already holds the delivery's id. It counts as made when the hook that has it is
 * this one or held the same token (a workflow that disposed a hook and created another with
 * its token must not get the delivery again). Otherwise the caller gave one id to two
 * different deliveries, and the second cannot be written: the error says where the first went.
 */
async function landedEarlier(world: World, hook: Hook, duplicate: DuplicateDeliveryError): Promise<Delivered> {
  if (duplicate.hookId !== hook.hookId) {
    const holder = await world.hooks.get(hook.runId, duplicate.hookId);
    if (holder.token !== hook.token) throw duplicate;
  }
  return { runId: hook.runId, hookId: duplicate.hookId };
}

/**
 * Finds the delivery by reading the run's log, on a World that does not keep delivery ids.
 * `refused`: a refusal an attempt in doubt already met, thrown if the read shows nothing landed.
 */
async function deliverByReading(
  delivery: Delivery,
  hook: Hook,
  recovery: Recovery,
  refused?: unknown,
): Promise<Delivered> {
  const { world } = delivery;
  const log = new DeliveryLog(world, hook, delivery.deliveryId);
  let mustRead = delivery.readFirst;
  /** Set once an attempt failed in a way that leaves its outcome unknown. */
  let inDoubt = false;
  /** A refusal met while in doubt: thrown once a read shows the delivery did not land. */
  let refusal: { error: unknown } | undefined = refused === undefined ? undefined : { error: refused };
  for (;;) {
    if (mustRead) {
      let found: WorldEventOf<'hook_received'> | undefined;
      try {
        found = await log.read();
      } catch (error) {
        if (!isOutage(error)) throw error;
        await recovery.after(error);
        continue;
      }
      if (found !== undefined) {
        rememberClientAppend(world, found);
        return { runId: hook.runId, hookId: found.correlationId };
      }
      if (refusal !== undefined) throw refusal.error;
      mustRead = false;
    }
    try {
      await append(delivery, hook, log.tail);
      return { runId: hook.runId, hookId: hook.hookId };
    } catch (error) {
      if (isOutage(error)) {
        inDoubt = true;
        await recovery.after(error);
      } else if (FenceConflictError.is(error) && log.tail !== undefined) {
        // The log moved since it was read: read on from there and decide again.
      } else if (inDoubt) {
        // The hook is gone or the run ended; an earlier attempt may have landed first.
        refusal = { error };
      } else {
        throw error;
      }
      mustRead = true;
    }
  }
}

/**
 * The delivery's append, with the wake that makes the run see it in the same commit. A
 * worker here that ran the run's last pass takes the next one itself, as for a start.
 */
async function append(delivery: Delivery, hook: Hook, fence: string | undefined): Promise<void> {
  const { world, wake, payload, deliveryId } = delivery;
  const host = passHostFor(world);
  const claimFor = host?.takesRun(hook.runId) === true ? host : undefined;
  const wakeMessage = wake(hook.runId, claimFor);
  const { event, claims } = await appendFromClient(
    world,
    hook.runId,
    { eventType: 'hook_received', correlationId: hook.hookId, eventData: { payload, deliveryId } },
    { enqueue: [wakeMessage], ...(fence === undefined ? {} : { lastKnownEventId: fence }) },
  ).catch((error: unknown) => {
    claimFor?.handBack(wakeMessage);
    throw error;
  });
  rememberClientAppend(world, event);
  if (claims?.[0] !== undefined) host!.run(hook.runId, claims[0]);
}

/**
 * The run's log as far as a delivery has read it. The hook's creation has no known position,
 * so the first read starts at the beginning; every later one goes on from where the last
 * stopped, since an attempt can only land after what was already there.
 *
 * A delivery counts as made when the run holds a `hook_received` with its id for any hook
 * the run created with the same token: a workflow that disposes a hook and creates another
 * with its token must not get a repeated delivery on the new one.
 */
class DeliveryLog {
  private afterSeq = 0;
  /** The hooks of the run created with the delivery's token. */
  private readonly holders: Set<string>;
  /** The last event read: what the next append is fenced on. */
  tail: string | undefined;

  constructor(
    private readonly world: World,
    private readonly hook: Hook,
    private readonly deliveryId: string,
  ) {
    this.holders = new Set([hook.hookId]);
  }

  /** Reads the events not read yet; resolves with the delivery's own event if one of them is it. */
  async read(): Promise<WorldEventOf<'hook_received'> | undefined> {
    for (;;) {
      const page = await this.world.events.list(this.hook.runId, {
        afterSeq: this.afterSeq,
        limit: limits.maxPageSize,
      });
      for (const event of page.data) {
        this.afterSeq = event.seq;
        this.tail = event.eventId;
        if (event.eventType === 'hook_created' && event.eventData.token === this.hook.token) {
          this.holders.add(event.correlationId);
        } else if (
          event.eventType === 'hook_received' &&
          event.eventData?.deliveryId === this.deliveryId &&
          this.holders.has(event.correlationId)
        ) {
          return event;
        }
      }
      if (!page.hasMore) return undefined;
    }
  }
}

/**
 * How long a delivery keeps at it after outages: until `timeoutMs` (default 30 s) after the
 * first, but always at least one more try, so `timeoutMs: 0` still reads the log once.
 */
class Recovery {
  private deadline: number | undefined;
  private tries = 0;

  constructor(private readonly options: ResumeHookOptions) {}

  /** Waits before the next try; throws `error` when the time is up, the signal's reason when aborted. */
  async after(error: unknown): Promise<void> {
    const now = Date.now();
    this.deadline ??= now + (this.options.timeoutMs ?? defaultRecoveryMs);
    if (this.tries > 0 && now >= this.deadline) throw error;
    this.tries += 1;
    const { signal } = this.options;
    signal?.throwIfAborted();
    await pause(Math.max(0, Math.min(retryBackoffMs(recoveryBackoff, this.tries), this.deadline - now)), signal);
    signal?.throwIfAborted();
  }
}
