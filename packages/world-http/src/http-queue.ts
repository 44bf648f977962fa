import {
  type ClaimOutcome,
  type ConsumeOptions,
  claimOutcomeSchema,
  consumeOptionsSchema,
  type DeliveryControl,
  InvalidInputError,
  type JsonValue,
  jsonValueSchema,
  leaseMsSchema,
  parseInput,
  type QueueClaim,
  type QueueConsumer,
  type QueueHandler,
  queueClaimSchema,
  type SendOptions,
  type SendResult,
  sendOptionsSchema,
  topicSchema,
  type WorldCapabilities,
  type WorldQueue,
} from '@cairn/core/world';
import { ProtocolError } from './errors/protocol-error.js';
import { type HttpTransport, nextDelay, pause } from './http-transport.js';
import type { WireDelivery } from './queue-sessions.js';

/** How long one queue poll parks on the server before asking again. */
const pollWaitMs = 20_000;

/**
 * The queue over HTTP. The server consumes the topic from its World on this client's
 * behalf; deliveries arrive by long-poll, the handler runs here, and each delivery is
 * settled by a route (ack, nack for a retry, extend). Leases, group exclusivity and retry
 * backoff are the World's own, so every queue guarantee holds across the wire. Where the
 * World's deliveries carry a claim, so do these: this client's appends reach the same World,
 * so an append can acknowledge the delivery, and the ack then only tells the server so.
 */
export class HttpQueue implements WorldQueue {
  private readonly consumers = new Set<HttpConsumer>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly capabilities: WorldCapabilities,
  ) {}

  async send(topic: string, payload: JsonValue, options?: SendOptions): Promise<SendResult> {
    this.transport.assertOpen();
    parseInput(topicSchema, topic, 'topic');
    parseInput(jsonValueSchema, payload, 'payload');
    parseInput(sendOptionsSchema, options, 'options');
    const size = Buffer.byteLength(JSON.stringify(payload));
    if (size > this.capabilities.maxPayloadBytes) {
      throw new InvalidInputError({
        field: 'payload',
        value: `${size} bytes`,
        reason: `must be at most ${this.capabilities.maxPayloadBytes} bytes`,
      });
    }
    return this.transport.call('queue.send', { topic, payload, options });
  }

  async extendClaim(claim: QueueClaim, leaseMs: number): Promise<boolean> {
    this.transport.assertOpen();
    parseInput(queueClaimSchema, claim, 'claim');
    parseInput(leaseMsSchema, leaseMs, 'leaseMs');
    return (await this.transport.call<{ extended: boolean }>('queue.extendClaim', { claim, leaseMs })).extended;
  }

  async settleClaim(claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
    this.transport.assertOpen();
    parseInput(queueClaimSchema, claim, 'claim');
    parseInput(claimOutcomeSchema, outcome, 'outcome');
    return (await this.transport.call<{ settled: boolean }>('queue.settleClaim', { claim, outcome })).settled;
  }

  consume(topic: string, handler: QueueHandler, options?: ConsumeOptions): QueueConsumer {
    this.transport.assertOpen();
    parseInput(topicSchema, topic, 'topic');
    if (typeof handler !== 'function') {
      throw new InvalidInputError({ field: 'handler', value: handler, reason: 'must be a function' });
    }
    parseInput(consumeOptionsSchema, options, 'options');
    const consumer = new HttpConsumer(this.transport, topic, handler, options, () => this.consumers.delete(consumer));
    this.consumers.add(consumer);
    return { stop: () => consumer.stop() };
  }

  /** Stops every consumer, waiting for their handlers. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.consumers].map((consumer) => consumer.stop()));
  }
}

class HttpConsumer {
  private readonly polling = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private sessionId: string | undefined;
  private stopping: Promise<void> | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly transport: HttpTransport,
    private readonly topic: string,
    private readonly handler: QueueHandler,
    private readonly options: ConsumeOptions | undefined,
    private readonly onStopped: () => void,
  ) {
    this.loop = this.run();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.polling.abort();
      await this.loop;
      await Promise.allSettled([...this.inFlight]);
      if (this.sessionId !== undefined) {
        await this.transport
          .call('queue.unsubscribe', { sessionId: this.sessionId }, { internal: true })
          .catch(() => undefined);
      }
      this.onStopped();
    })();
    return this.stopping;
  }

  private async run(): Promise<void> {
    let delay = 0;
    const signal = this.polling.signal;
    while (!signal.aborted) {
      try {
        // Not abortable: a subscription the server opened must be known here, to be closed.
        this.sessionId ??= (
          await this.transport.call<{ sessionId: string }>(
            'queue.subscribe',
            { topic: this.topic, options: this.options },
            { internal: true },
          )
        ).sessionId;
        if (signal.aborted) return;
        const { deliveries } = await this.transport.call<{ deliveries: WireDelivery[] }>(
          'queue.poll',
          { sessionId: this.sessionId, waitMs: pollWaitMs },
          { signal, internal: true },
        );
        for (const delivery of deliveries) this.dispatch(this.sessionId, delivery);
        delay = 0;
      } catch (error) {
        if (signal.aborted) return;
        // The server restarted or dropped the session: open a new one.
        if (ProtocolError.is(error) && error.code === 'SESSION_NOT_FOUND') this.sessionId = undefined;
        delay = nextDelay(delay);
        await pause(delay, signal);
      }
    }
  }

  private dispatch(sessionId: string, { deliveryId, message, claim: wireClaim }: WireDelivery): void {
    const settle = (route: 'queue.ack' | 'queue.nack', extra: { reason?: string; byAppend?: true } = {}) =>
      this.transport
        .call(route, { sessionId, deliveryId, ...extra }, { internal: true })
        // A settlement that cannot reach the server is a lease that runs out: the World redelivers.
        .then(
          () => undefined,
          () => undefined,
        );
    // The served World's lease as a claim, when its deliveries carry one and it is well formed
    // (a server that sends none, or an older one, leaves the delivery as it was without).
    const claim = wireClaim === undefined ? undefined : queueClaimSchema.safeParse(wireClaim).data;
    let acknowledgedByAppend = false;
    const control: DeliveryControl = {
      ...(claim === undefined
        ? {}
        : {
            claim,
            acknowledgedByAppend: () => {
              acknowledgedByAppend = true;
            },
          }),
      extendLease: (leaseMs) =>
        this.transport
          .call<{ extended: boolean }>(
            'queue.extend',
            { sessionId, deliveryId, ...(leaseMs === undefined ? {} : { leaseMs }) },
            { internal: true },
          )
          .then(
            (answer) => answer.extended,
            (error: unknown) => {
              // A session the server no longer holds has no lease left. Anything else (a server
              // briefly unreachable) is thrown, so the caller tries again rather than giving up.
              if (ProtocolError.is(error) && error.code === 'SESSION_NOT_FOUND') return false;
              throw error;
            },
          ),
    };
    const running = Promise.resolve()
      .then(() => this.handler(message, control))
      .then(
        // An append committed the acknowledgement already: the server's World writes none.
        () => settle('queue.ack', acknowledgedByAppend ? { byAppend: true } : {}),
        (error: unknown) => settle('queue.nack', { reason: error instanceof Error ? error.message : String(error) }),
      )
      .finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }
}
