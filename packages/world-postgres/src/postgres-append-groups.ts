import { WorldClosedError, WorldUnavailableError } from '@cairn/core/world';
import { type Database, errorCode } from './database.js';
import type { BatchCall } from './postgres-batch.js';

/** What `append_batch` answered of an append's claims; undefined when a guard or key refused it. */
type CallAnswer = (boolean | null)[] | null | undefined;

/** SQLSTATEs by which the guards and keys say "the cache was not the run's present". */
const divisionByZero = '22012';
const uniqueViolation = '23505';
/** Two batches claiming each other's tokens: the long way retries it. */
const deadlockDetected = '40P01';
const serializationFailure = '40001';
const refusals = new Set([divisionByZero, uniqueViolation, deadlockDetected, serializationFailure]);

/** The most appends one statement carries: 16 calls are 1,008 bound values. */
const largestGroup = 16;

interface Waiting {
  call: BatchCall;
  resolve: (answer: CallAnswer) => void;
  reject: (error: unknown) => void;
}

/**
 * One-round-trip appends of different runs, sent together when more are ready than run at
 * once. Each append is one call of the schema's `append_batch`; while `maxInFlight`
 * statements are already out, the calls that arrive wait, and the next free slot sends up
 * to 16 of them as one statement (one call per column of one row), so one round trip, one
 * transaction and one commit serve them all. An append that finds a slot free goes at once,
 * alone, so a lone run's latency is what it was.
 *
 * Each call keeps its own guards, locks and writes; they share only the transaction. If the
 * server refuses the statement (a call's guard or key, or any other error in one call), the
 * whole of it rolls back, and each call is sent again alone, so one stale cache or one bad
 * value costs the others a round trip, never a wrong answer. An unreachable database is
 * every call's error, as it would have been had each been sent alone at that moment.
 */
export class AppendGroups {
  private inFlight = 0;
  private readonly waiting: Waiting[] = [];

  constructor(
    private readonly db: Database,
    private readonly maxInFlight: number,
  ) {}

  /** Sends `call` (alone or with others); what it answered, or undefined when it was refused. */
  send(call: BatchCall): Promise<CallAnswer> {
    return new Promise<CallAnswer>((resolve, reject) => {
      this.waiting.push({ call, resolve, reject });
      this.takeOff();
    });
  }

  /**
   * Sends what waits, as groups, while slots are free. Calls wait only while every slot is
   * out, so a call that finds one free goes at once, as a group of one.
   */
  private takeOff(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length > 0) {
      const group = this.waiting.splice(0, largestGroup);
      // Only a commit that overlaps others makes them wait for its notification's lock.
      if (group.length === 1 && this.inFlight === 0) group[0]!.call.notifyInside();
      this.inFlight += 1;
      void sendGroup(this.db, group).finally(() => {
        this.inFlight -= 1;
        this.takeOff();
      });
    }
  }
}

/** Publishes a committed call's notifications, unless its statement sent them itself. */
function announce(db: Database, call: BatchCall): void {
  if (!call.notifiesItself) db.publisher.publish(call.notifications);
}

/** The call alone, as one prepared statement. */
async function callAlone(db: Database, call: BatchCall): Promise<CallAnswer> {
  try {
    const [row] = await db.query<{ claims: CallAnswer }>(call.text, call.values as unknown[]);
    announce(db, call);
    return row?.claims ?? null;
  } catch (error) {
    // A server whose default isolation is stricter than read committed may refuse the single
    // statement (40001) where the long way (which asks for read committed) would not.
    if (refusals.has(errorCode(error) ?? '')) return undefined;
    throw error;
  }
}

/** Settles every caller of `group`, from one statement or, after a refusal, from one each. */
async function sendGroup(db: Database, group: Waiting[]): Promise<void> {
  if (group.length === 1) {
    const [only] = group;
    await callAlone(db, only!.call).then(only!.resolve, only!.reject);
    return;
  }
  let row: Record<string, CallAnswer> | undefined;
  try {
    [row] = await db.query<Record<string, CallAnswer>>(
      groupText(db, group),
      group.flatMap(({ call }) => call.values),
    );
  } catch (error) {
    // Unreachable or closed: the outcome is unknown for every call, as for one sent alone.
    if (WorldUnavailableError.is(error) || WorldClosedError.is(error)) {
      for (const { reject } of group) reject(error);
      return;
    }
    // The server refused the statement: which call it refused is not told, and the others
    // must not answer for it. Each goes again alone and gets its own answer.
    await Promise.all(group.map(({ call, resolve, reject }) => callAlone(db, call).then(resolve, reject)));
    return;
  }
  for (const [index, { call, resolve }] of group.entries()) {
    announce(db, call);
    resolve(row?.[`c${index}`] ?? null);
  }
}

/** Each World's group texts, by the value counts of their calls: built once each. */
const groupTexts = new WeakMap<Database, Map<string, string>>();

/**
 * `SELECT <schema>.append_batch($1, …) AS c0, <schema>.append_batch($64, …) AS c1, …`: the
 * calls of `group` (each the text `postgres-batch.ts` builds), numbered on from the last.
 */
function groupText(db: Database, group: Waiting[]): string {
  const counts = group.map(({ call }) => call.values.length);
  const key = counts.join(',');
  let texts = groupTexts.get(db);
  if (texts === undefined) {
    texts = new Map();
    groupTexts.set(db, texts);
  }
  const known = texts.get(key);
  if (known !== undefined) return known;
  let offset = 0;
  const columns = counts.map((count, index) => {
    const placeholders = Array.from({ length: count }, (_, position) => `$${offset + position + 1}`).join(', ');
    offset += count;
    return `${db.tables.schema}.append_batch(${placeholders}) AS c${index}`;
  });
  const text = `SELECT ${columns.join(', ')}`;
  texts.set(key, text);
  return text;
}
