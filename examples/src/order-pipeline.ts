/**
 * An order pipeline on world-local, end to end in one process: a worker runs the workflow,
 * a client starts it, and a small driver plays the warehouse manager who releases the
 * order. Along the way it shows a step that fails transiently and succeeds on retry,
 * steps running in parallel, a hook, a durable sleep and a final step, then reads the run's
 * event log back and summarises it.
 *
 * Step bodies run outside the workflow's replay, once per attempt, so they are where the
 * side effects (and the progress output) live. The workflow body is replayed from the log
 * whenever something happens, so it only decides what comes next and never logs.
 */
import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import {
  createClient,
  createHook,
  createWorker,
  FatalError,
  HookNotFoundError,
  replayRun,
  sleep,
  step,
  type World,
  type WorldEvent,
  workflow,
} from '@cairn/core';
import { createLocalWorld } from '@cairn/world-local';

export interface LineItem {
  sku: string;
  quantity: number;
  unitCents: number;
}

export interface Order {
  id: string;
  customer: string;
  items: LineItem[];
}

/** What the warehouse manager sends to the order's hook. */
export interface Release {
  approved: boolean;
  by: string;
  note?: string;
}

export interface Reservation {
  sku: string;
  quantity: number;
  bin: string;
}

export interface Fulfilment {
  orderId: string;
  status: 'shipped';
  totalCents: number;
  chargeId: string;
  reservations: Reservation[];
  releasedBy: string;
  trackingId: string;
}

export const sampleOrder: Order = {
  id: 'ORD-1042',
  customer: 'ada@example.com',
  items: [
    { sku: 'CAIRN-MUG', quantity: 2, unitCents: 1_450 },
    { sku: 'TRAIL-MAP', quantity: 1, unitCents: 2_900 },
    { sku: 'HEADLAMP', quantity: 1, unitCents: 3_999 },
  ],
};

/** The token the driver resumes; deterministic, so an outside system can compute it. */
export const releaseToken = (orderId: string): string => `release:${orderId}`;

/** How long the workflow waits for the warehouse's next pick wave. */
export const pickWaveDelay = '750ms';

// ---------------------------------------------------------------------------------------
// Progress output. Step bodies and the driver write through `say`, stamped with the time
// since the demo started; `runDemo` points it at its `log` option.

let output: (line: string) => void = console.log;
let startedAt = Date.now();

function say(who: string, message: string): void {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(3).padStart(5);
  output(`[+${seconds}s] ${who.padEnd(18)} ${message}`);
}

const money = (cents: number): string => `$${(cents / 100).toFixed(2)}`;

// ---------------------------------------------------------------------------------------
// Steps. Each is recorded once in the log, executed at least once, and retried per its options.

const validateOrder = step('orders.validate', async (order: Order) => {
  if (order.items.length === 0) throw new FatalError(`order ${order.id} has no line items`);
  for (const item of order.items) {
    if (!Number.isInteger(item.quantity) || item.quantity < 1) {
      throw new FatalError(`order ${order.id}: bad quantity ${item.quantity} for ${item.sku}`);
    }
  }
  const totalCents = order.items.reduce((sum, item) => sum + item.quantity * item.unitCents, 0);
  say('validate', `${order.items.length} line items for ${order.customer}, total ${money(totalCents)}`);
  return { totalCents };
});

/** Calls to the simulated payment gateway per order: the first call of each order fails. */
const gatewayCalls = new Map<string, number>();

const chargePayment = step(
  'orders.charge-payment',
  async (orderId: string, cents: number) => {
    const call = (gatewayCalls.get(orderId) ?? 0) + 1;
    gatewayCalls.set(orderId, call);
    if (call === 1) {
      say('charge-payment', `attempt ${call}: gateway answered 503 Service Unavailable; throwing so Cairn retries`);
      throw new Error('payment gateway unavailable (HTTP 503)');
    }
    const chargeId = `ch_${orderId.toLowerCase()}_${call}`;
    say('charge-payment', `attempt ${call}: charged ${money(cents)} -> ${chargeId}`);
    return { chargeId };
  },
  // A transient failure is retried after 250 ms, then 500 ms, 1 s; a FatalError would stop at once.
  { maxRetries: 3, backoff: { initialMs: 250, factor: 2, maxMs: 2_000 } },
);

const reserveInventory = step('orders.reserve-inventory', async (orderId: string, item: LineItem) => {
  say('reserve-inventory', `${orderId}: reserving ${item.quantity} x ${item.sku} ...`);
  // Each warehouse lookup takes a different time, so the parallel reservations finish out of order.
  const lookupMs = 60 + ((item.sku.length * 37) % 140);
  await delay(lookupMs);
  const bin = `${String.fromCharCode(65 + (item.sku.charCodeAt(0) % 6))}-${(item.sku.length * 7) % 40}`;
  say('reserve-inventory', `${orderId}: reserved ${item.quantity} x ${item.sku} in bin ${bin} (${lookupMs} ms)`);
  return { sku: item.sku, quantity: item.quantity, bin } satisfies Reservation;
});

const shipOrder = step('orders.ship', async (order: Order, reservations: Reservation[]) => {
  const trackingId = `1Z${order.id.replace(/\W/g, '')}${reservations.length}`;
  say('ship', `${order.id}: ${reservations.length} parcels handed to the carrier, tracking ${trackingId}`);
  return { trackingId };
});

// ---------------------------------------------------------------------------------------
// The workflow: plain async code; every await on a step, hook or sleep is durable.

export const orderPipeline = workflow('orders.pipeline', async (order: Order): Promise<Fulfilment> => {
  const { totalCents } = await validateOrder(order);

  // Fails on its first attempt and succeeds on the retry; the workflow only sees the success.
  const { chargeId } = await chargePayment(order.id, totalCents);

  // One step per line item, all in flight at once.
  const reservations = await Promise.all(order.items.map((item) => reserveInventory(order.id, item)));

  // A person (here: the demo's driver) releases the order for shipping.
  const release = createHook<Release>({ token: releaseToken(order.id) });
  const decision = await release;
  release.dispose();
  if (!decision.approved) throw new FatalError(`order ${order.id} was held by ${decision.by}: ${decision.note ?? ''}`);

  // A durable sleep: survives a restart of the worker, and costs nothing while it waits.
  await sleep(pickWaveDelay);

  const { trackingId } = await shipOrder(order, reservations);
  return {
    orderId: order.id,
    status: 'shipped',
    totalCents,
    chargeId,
    reservations,
    releasedBy: decision.by,
    trackingId,
  };
});

// ---------------------------------------------------------------------------------------
// The driver.

export interface DemoOptions {
  /** world-local's directory. Removed first, so every run starts from an empty World. */
  dir: string;
  /** Where progress and the summary go. Default console.log. */
  log?: (line: string) => void;
  order?: Order;
  /** Give up (and fail) if the run has not finished by then. Default 30 s. */
  timeoutMs?: number;
}

export interface DemoResult {
  runId: string;
  result: Fulfilment;
  events: WorldEvent[];
  /** Events per type, in order of first appearance. */
  counts: Record<string, number>;
  /** From run_created to run_completed. */
  durationMs: number;
  /** Whether replaying the whole log from scratch reproduces the recorded output. */
  replayMatches: boolean;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { dir, log = console.log, order = sampleOrder, timeoutMs = 30_000 } = options;
  output = log;
  startedAt = Date.now();
  gatewayCalls.clear();
  const deadline = AbortSignal.timeout(timeoutMs);

  await rm(dir, { recursive: true, force: true });
  const world = createLocalWorld({ dir });
  await world.open();
  const worker = createWorker({ world, workflows: [orderPipeline] });
  const client = createClient({ world });
  say('driver', `world ${world.name}`);

  try {
    await worker.start();
    say('driver', 'worker started');

    // The order id is the run id: starting the same order twice returns the same run.
    const run = await client.start(orderPipeline, order, { id: `order-${order.id}` });
    say('driver', `started run ${run.id}`);
    const tail = tailLog(world, run.id, deadline);
    tail.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"

    // Wait until the workflow has reached its hook, then release the order.
    const token = releaseToken(order.id);
    const hook = await waitForHook(world, token, deadline);
    say('driver', `hook ${token} is live (hook ${hook.hookId}); releasing the order`);
    await client.resumeHook(token, {
      approved: true,
      by: 'warehouse-manager',
      note: 'stock checked',
    } satisfies Release);

    const result = await run.result({ signal: deadline });
    await tail;
    say('driver', 'run completed');

    const events = await run.events();
    const finished = await world.runs.get(run.id);
    const durationMs = (finished.completedAt ?? finished.updatedAt) - finished.createdAt;
    const counts: Record<string, number> = {};
    for (const event of events) counts[event.eventType] = (counts[event.eventType] ?? 0) + 1;

    // Replaying the log from scratch, writing nothing, must land on the same output.
    const verdict = await replayRun(world, orderPipeline, run.id);
    const replayMatches = verdict.status === 'completed' && JSON.stringify(verdict.output) === JSON.stringify(result);

    printReport(log, { result, events, counts, durationMs, replayMatches });
    return { runId: run.id, result, events, counts, durationMs, replayMatches };
  } finally {
    await worker.stop();
    await world.close();
  }
}

/** Polls the World for the live hook holding `token`. */
async function waitForHook(world: World, token: string, signal: AbortSignal) {
  for (;;) {
    try {
      return await world.hooks.getByToken(token);
    } catch (error) {
      if (!HookNotFoundError.is(error)) throw error;
    }
    signal.throwIfAborted();
    await delay(20, undefined, { signal });
  }
}

/**
 * Follows the run's log as the engine writes it and narrates what the step bodies cannot
 * see: retries being scheduled, the hook, the sleep. Resolves at the run's terminal event.
 */
async function tailLog(world: World, runId: string, signal: AbortSignal): Promise<void> {
  let seq = 0;
  for (;;) {
    const page = await world.events.list(runId, { afterSeq: seq, limit: 1000 });
    for (const event of page.data) {
      seq = event.seq;
      const line = narrate(event);
      if (line) say('engine', `#${event.seq} ${line}`);
      if (
        event.eventType === 'run_completed' ||
        event.eventType === 'run_failed' ||
        event.eventType === 'run_cancelled'
      )
        return;
    }
    if (!page.hasMore) await world.events.watch(runId, seq, signal);
  }
}

function narrate(event: WorldEvent): string | undefined {
  switch (event.eventType) {
    case 'run_started':
      return 'run_started';
    case 'step_retrying': {
      const wait =
        event.eventData.retryAfter === undefined ? '' : ` in ${event.eventData.retryAfter - event.createdAt} ms`;
      return `step_retrying: "${event.eventData.error.message}", next attempt${wait}`;
    }
    case 'step_failed':
      return `step_failed: ${event.eventData.error.message}`;
    case 'hook_created':
      return `hook_created: waiting for ${event.eventData.token}`;
    case 'hook_received':
      return 'hook_received: payload delivered to the workflow';
    case 'wait_created':
      return `wait_created: durable sleep('${pickWaveDelay}') until the next pick wave`;
    case 'wait_completed':
      return 'wait_completed: the sleep is over';
    case 'run_completed':
      return 'run_completed';
    case 'run_failed':
      return `run_failed: ${event.eventData.error.message}`;
    default:
      return undefined;
  }
}

function printReport(
  log: (line: string) => void,
  report: Pick<DemoResult, 'result' | 'events' | 'counts' | 'durationMs' | 'replayMatches'>,
): void {
  const { result, events, counts, durationMs, replayMatches } = report;
  log('');
  log('Result:');
  for (const line of JSON.stringify(result, null, 2).split('\n')) log(`  ${line}`);

  log('');
  log(
    `Event log: ${events.length} events, run took ${(durationMs / 1000).toFixed(3)} s (run_created -> run_completed)`,
  );
  for (const [type, count] of Object.entries(counts)) log(`  ${type.padEnd(16)} ${String(count).padStart(3)}`);

  // Correlation ids name the call site: `step:<step name>#<n>`, `hook:hook#<n>`, `sleep:sleep#<n>`.
  const first = events[0]?.createdAt ?? 0;
  const row = (event: WorldEvent) =>
    [
      String(event.seq).padStart(5),
      `+${event.createdAt - first} ms`.padStart(10),
      event.eventType.padEnd(15),
      event.correlationId ?? '-',
    ].join('  ');
  const shown = 6;
  log('');
  log(['  seq', 'at'.padStart(10), 'type'.padEnd(15), 'correlation id'].join('  '));
  for (const event of events.slice(0, shown)) log(row(event));
  if (events.length > shown * 2) log(`  ... ${events.length - shown * 2} more ...`);
  for (const event of events.slice(Math.max(shown, events.length - shown))) log(row(event));

  log('');
  log(
    replayMatches
      ? 'Replay check: replaying the log from scratch reproduces the same result.'
      : 'Replay check: MISMATCH, replaying the log did not reproduce the result.',
  );
}
