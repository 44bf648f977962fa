import { InvalidInputError, type QueueClaim, type World, type WorldQueue } from '@cairn/core/world';
import { bodyFields, text, wholeNumber } from '../wire.js';
import { json, type Route } from './route.js';

/**
 * The queue over HTTP. `queue.subscribe` opens a consumer session on the server; the client
 * long-polls `queue.poll` for deliveries, runs its handler locally, and settles each delivery
 * with `queue.ack` or `queue.nack` (a retry with the World's backoff), or keeps it with
 * `queue.extend`. Settling a delivery whose lease already ran out answers `{ settled: false }`:
 * the World has handed it on, and a late settlement is ignored, as the contract says. A
 * delivery carries the World's claim when its deliveries have one; an ack with `byAppend`
 * says a committed append acknowledged that claim, so the World writes nothing.
 */
export const queueRoutes: Record<string, Route> = {
  'queue.send': json('worker', (body, { world }) => {
    const { topic, payload, options } = bodyFields(body, ['topic', 'payload', 'options']);
    return world.queue.send(topic as never, payload as never, options as never);
  }),
  'queue.subscribe': json('worker', async (body, { sessions }) => {
    const { topic, options } = bodyFields(body, ['topic', 'options']);
    return { sessionId: sessions.open(topic as never, options as never) };
  }),
  'queue.poll': json('worker', async (body, { sessions, signal, longPollMs }) => {
    const { sessionId, waitMs } = bodyFields(body, ['sessionId', 'waitMs']);
    const session = sessions.get(sessionId);
    const wait = Math.min(longPollMs, wholeNumber(waitMs ?? longPollMs, 'body.waitMs', 0, 3_600_000));
    return { deliveries: await session.poll(wait, signal) };
  }),
  'queue.ack': json('worker', async (body, { sessions }) => {
    const { sessionId, deliveryId, byAppend } = bodyFields(body, ['sessionId', 'deliveryId', 'byAppend']);
    if (byAppend !== undefined && byAppend !== true) {
      throw new InvalidInputError({ field: 'body.byAppend', value: byAppend, reason: 'must be true when given' });
    }
    const outcome = { ok: true as const, byAppend: byAppend === true };
    return { settled: sessions.get(sessionId).settle(text(deliveryId, 'body.deliveryId'), outcome) };
  }),
  'queue.nack': json('worker', async (body, { sessions }) => {
    const { sessionId, deliveryId, reason } = bodyFields(body, ['sessionId', 'deliveryId', 'reason']);
    const why = typeof reason === 'string' ? reason.slice(0, 4096) : 'the handler failed';
    return { settled: sessions.get(sessionId).settle(text(deliveryId, 'body.deliveryId'), { ok: false, reason: why }) };
  }),
  'queue.extend': json('worker', async (body, { sessions }) => {
    const { sessionId, deliveryId, leaseMs } = bodyFields(body, ['sessionId', 'deliveryId', 'leaseMs']);
    return { extended: await sessions.get(sessionId).extend(text(deliveryId, 'body.deliveryId'), leaseMs) };
  }),
  // Claims (messages queued already leased to their writer) are settled by the writer, not a session.
  'queue.extendClaim': json('worker', (body, { world, sessions }) => {
    const { claim, leaseMs } = bodyFields(body, ['claim', 'leaseMs']);
    return claimsOf(world)
      .extendClaim(claim as never, leaseMs as never)
      .then((extended) => {
        // The World checked both: a claim it extended is well formed, and leaseMs a lease length.
        if (extended) sessions.claimExtended(claim as QueueClaim, leaseMs as number);
        return { extended };
      });
  }),
  'queue.settleClaim': json('worker', (body, { world }) => {
    const { claim, outcome } = bodyFields(body, ['claim', 'outcome']);
    return claimsOf(world)
      .settleClaim(claim as never, outcome as never)
      .then((settled) => ({ settled }));
  }),
  'queue.unsubscribe': json('worker', async (body, { sessions }) => {
    const { sessionId } = bodyFields(body, ['sessionId']);
    await sessions.get(sessionId).stop('the remote consumer stopped');
    return null;
  }),
};

/** The backing World's claim methods; a World without claims refuses the call as bad input. */
function claimsOf(world: World): Required<Pick<WorldQueue, 'extendClaim' | 'settleClaim'>> {
  const { extendClaim, settleClaim } = world.queue;
  if (world.capabilities.queue.claims !== true || extendClaim === undefined || settleClaim === undefined) {
    throw new InvalidInputError({
      field: 'claim',
      value: null,
      reason: 'cannot be settled: the World behind this server does not queue claimed messages',
    });
  }
  return { extendClaim: extendClaim.bind(world.queue), settleClaim: settleClaim.bind(world.queue) };
}
