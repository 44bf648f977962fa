import { randomBytes } from 'node:crypto';
import type {
  ConsumeOptions,
  DeliveryControl,
  QueueClaim,
  QueueConsumer,
  QueueMessage,
  World,
} from '@cairn/core/world';
import { ProtocolError } from './errors/protocol-error.js';

interface Delivery {
  id: string;
  message: QueueMessage;
  control: DeliveryControl;
  /**
   * Settles the handler the World is waiting on: resolve acknowledges (or, `byAppend`, tells
   * the World an append already did, so it writes nothing), reject hands back.
   */
  settle(outcome: SessionSettlement): void;
  /** Hands the message back once its lease is over, so a client that vanished holds no slot. */
  leaseTimer: NodeJS.Timeout | undefined;
}

/** A delivery as the client receives it. */
export interface WireDelivery {
  deliveryId: string;
  message: QueueMessage;
  /**
   * The World's lease as a claim (`DeliveryControl.claim`), when its deliveries carry one:
   * the client's appends go to the same World, so an append that lists it settles the
   * delivery in its own commit, and `queue.extendClaim` and `settleClaim` reach it too.
   */
  claim?: QueueClaim;
}

/** How the client settled a delivery: `byAppend` when a committed append acknowledged its claim. */
export type SessionSettlement = { ok: true; byAppend?: boolean } | { ok: false; reason: string };

/**
 * One remote consumer: the server consumes the topic from the World on the client's behalf.
 * Each message the World hands over waits here until the client polls it, then until the
 * client acknowledges or hands it back, so leases, group exclusivity and retries stay the
 * World's own. A session nobody polls for `idleMs` ends and hands its messages back.
 *
 * A live client always has a poll on its way or parked here: it polls as soon as it has
 * subscribed, and again as soon as a poll answers. So a session with no poll for
 * `reconnectMs` has lost its client (crashed, killed, cut off) or its client is stopping,
 * and it retires: it takes nothing more from the World and hands back what it holds that
 * the client never received, while what the client did receive stays the client's until it
 * is settled or its lease runs out (a stopping worker finishes its handlers and acknowledges
 * them). The session ends with the last of those, or at `idleMs` without a poll. Waiting the
 * whole `idleMs` before retiring would leave the session taking messages that nobody will
 * run, and every run they wake stalled, for a minute after each crash.
 */
class QueueSession {
  readonly id = randomBytes(18).toString('base64url');
  private readonly consumer: QueueConsumer;
  private readonly ready: Delivery[] = [];
  private readonly handedOut = new Map<string, Delivery>();
  /**
   * The polls parked waiting for a delivery, oldest first. A client polls one at a time, but
   * the server may still hold a poll whose connection the client gave up on when its next
   * one arrives: each keeps its own wake-up, so neither can lose the other's.
   */
  private readonly parked = new Set<() => void>();
  private idleTimer: NodeJS.Timeout | undefined;
  private polling = 0;
  /** Whether the last poll to end lost its connection before its answer (for the reason given on retiring). */
  private pollLost = false;
  /** Taking no more messages; ends once the client's deliveries are settled. */
  private retired = false;
  private consumerStopped: Promise<void> | undefined;
  stopped = false;

  constructor(
    world: World,
    topic: string,
    options: ConsumeOptions | undefined,
    private readonly leaseMs: number,
    private readonly idleMs: number,
    private readonly reconnectMs: number,
    private readonly onEnd: (session: QueueSession) => void,
  ) {
    const handler = (message: QueueMessage, control: DeliveryControl) =>
      new Promise<void>((resolve, reject) => {
        const delivery: Delivery = {
          id: randomBytes(12).toString('base64url'),
          message,
          control,
          leaseTimer: undefined,
          settle: (outcome) => {
            clearTimeout(delivery.leaseTimer);
            this.handedOut.delete(delivery.id);
            if (outcome.ok && outcome.byAppend === true) control.acknowledgedByAppend?.();
            if (outcome.ok) resolve();
            else reject(new Error(outcome.reason));
            if (this.retired && this.handedOut.size === 0) void this.stop('the remote consumer went away');
          },
        };
        if (this.stopped || this.retired) {
          return delivery.settle({ ok: false, reason: 'the remote consumer stopped' });
        }
        this.ready.push(delivery);
        this.wakeNewestPoll();
      });
    this.consumer = world.queue.consume(topic, handler, options);
    this.touch();
  }

  /** Hands over what is ready, waiting up to `waitMs` for something to arrive. */
  async poll(waitMs: number, signal: AbortSignal): Promise<WireDelivery[]> {
    // A retired session takes no more work: the client opens a new one.
    if (this.retired) throw sessionNotFound();
    this.polling += 1;
    clearTimeout(this.idleTimer);
    try {
      if (this.ready.length === 0 && !this.stopped) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            this.parked.delete(done);
            resolve();
          };
          const timer = setTimeout(done, waitMs);
          signal.addEventListener('abort', done, { once: true });
          this.parked.add(done);
        });
      }
      this.pollLost = signal.aborted;
      if (signal.aborted) return [];
      return this.ready.splice(0).map((delivery) => {
        this.handedOut.set(delivery.id, delivery);
        this.armLease(delivery, this.leaseMs);
        const { claim } = delivery.control;
        return { deliveryId: delivery.id, message: delivery.message, ...(claim === undefined ? {} : { claim }) };
      });
    } finally {
      this.polling -= 1;
      this.touch();
    }
  }

  settle(deliveryId: string, outcome: SessionSettlement): boolean {
    const delivery = this.handedOut.get(deliveryId);
    if (!delivery) return false;
    delivery.settle(outcome);
    return true;
  }

  /** The World validates `leaseMs` and decides; the server's own hand-back timer follows it. */
  async extend(deliveryId: string, leaseMs: unknown): Promise<boolean> {
    const delivery = this.handedOut.get(deliveryId);
    if (!delivery) return false;
    const extended = await delivery.control.extendLease(leaseMs as number | undefined);
    if (extended && this.handedOut.has(deliveryId)) {
      this.armLease(delivery, typeof leaseMs === 'number' ? leaseMs : this.leaseMs);
    }
    return extended;
  }

  /**
   * After the World extended `claim` through `queue.extendClaim` (the World's own consumer
   * timer follows such an extension): the hand-back timer of the client's delivery holding
   * it follows too, or it would hand the message back at the old deadline while the client
   * still works on it under the new one.
   */
  claimExtended(claim: QueueClaim, leaseMs: number): void {
    for (const delivery of this.handedOut.values()) {
      const held = delivery.control.claim;
      if (held?.messageId === claim.messageId && held.token === claim.token) this.armLease(delivery, leaseMs);
    }
  }

  /** Hands back everything not acknowledged and stops consuming. */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.idleTimer);
    for (const wake of [...this.parked]) wake();
    this.onEnd(this);
    for (const delivery of [...this.ready.splice(0), ...this.handedOut.values()])
      delivery.settle({ ok: false, reason });
    await this.stopConsumer();
  }

  /**
   * Takes no more messages from the World and hands back those the client never received.
   * The client's own deliveries can still be acknowledged, handed back or extended; the
   * session ends with the last of them (or their leases, which the client no longer renews).
   */
  private retire(reason: string): void {
    if (this.stopped || this.retired) return;
    this.retired = true;
    clearTimeout(this.idleTimer);
    for (const wake of [...this.parked]) wake();
    for (const delivery of this.ready.splice(0)) delivery.settle({ ok: false, reason });
    // Resolves once the client's deliveries are settled, which ends the session.
    void this.stopConsumer();
    if (this.handedOut.size === 0) {
      void this.stop(reason);
      return;
    }
    // A client that never settles them nor polls again: as before retiring, the session ends at idleMs.
    this.idleTimer = setTimeout(
      () => void this.stop('the remote consumer stopped polling'),
      Math.max(0, this.idleMs - this.retireAfterMs()),
    );
    this.idleTimer.unref();
  }

  private retireAfterMs(): number {
    return Math.min(this.reconnectMs, this.idleMs);
  }

  private stopConsumer(): Promise<void> {
    this.consumerStopped ??= this.consumer.stop();
    return this.consumerStopped;
  }

  /** The newest poll is the one most likely to have a client still reading its answer. */
  private wakeNewestPoll(): void {
    let newest: (() => void) | undefined;
    for (const wake of this.parked) newest = wake;
    newest?.();
  }

  private armLease(delivery: Delivery, ms: number): void {
    clearTimeout(delivery.leaseTimer);
    delivery.leaseTimer = setTimeout(
      () => delivery.settle({ ok: false, reason: 'the lease ran out at the client' }),
      ms,
    );
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.stopped || this.retired || this.polling > 0) return;
    const reason = this.pollLost
      ? 'the remote consumer went away in the middle of a poll'
      : 'the remote consumer stopped polling';
    this.idleTimer = setTimeout(() => this.retire(reason), this.retireAfterMs());
    this.idleTimer.unref();
  }
}

/** Every remote consumer of one server, by session id. */
export class QueueSessions {
  private readonly sessions = new Map<string, QueueSession>();

  constructor(
    private readonly world: World,
    private readonly idleMs: number,
    private readonly reconnectMs: number,
  ) {}

  open(topic: string, options: ConsumeOptions | undefined): string {
    const leaseMs = options?.leaseMs ?? this.world.capabilities.queue.defaultLeaseMs;
    const session = new QueueSession(this.world, topic, options, leaseMs, this.idleMs, this.reconnectMs, (ended) =>
      this.sessions.delete(ended.id),
    );
    this.sessions.set(session.id, session);
    return session.id;
  }

  /** See `QueueSession.claimExtended`. */
  claimExtended(claim: QueueClaim, leaseMs: number): void {
    for (const session of this.sessions.values()) session.claimExtended(claim, leaseMs);
  }

  get(sessionId: unknown): QueueSession {
    const session = typeof sessionId === 'string' ? this.sessions.get(sessionId) : undefined;
    if (!session) throw sessionNotFound();
    return session;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((session) => session.stop('the server is closing')));
  }
}

function sessionNotFound(): ProtocolError {
  return new ProtocolError({ code: 'SESSION_NOT_FOUND', message: 'No such queue session; subscribe again' });
}
