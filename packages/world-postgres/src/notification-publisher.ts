import type { Database } from './database.js';

/** Every payload on the channel, in one statement whose commit waits for no WAL flush. */
const publishText =
  "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, payload) FROM unnest($2::text[]) AS payload";

/**
 * Sends an append's notifications after its commit, instead of inside its transaction.
 *
 * PostgreSQL serialises every transaction that has sent NOTIFY from the start of its commit
 * to the end: it takes one database-wide lock so that notifications are queued in commit
 * order, and holds it while the commit waits for its WAL flush. Appends that notified
 * inside their transaction could therefore never share a flush: under concurrency most
 * database sessions were found waiting on that lock, each commit paying its own fsync.
 *
 * Notifications only wake waiters, which then read the state (and which also poll slowly,
 * so a notification that never arrives delays them but cannot strand them). So sending one
 * just after the commit instead, from a separate statement, loses nothing the contract
 * promises: the state is committed before anyone is told. That statement waits for no
 * flush (its `synchronous_commit` is off: a notification is not data), so it holds the lock
 * only for a moment. A process that dies between an append's commit and its notification
 * leaves other processes to notice by their poll, as after a dropped LISTEN connection.
 *
 * Notifications published while a statement is out go together in the next one, so a busy
 * World sends one statement per round trip, not one per append. A statement that fails is
 * not retried: its waiters fall back to their poll.
 */
export class NotificationPublisher {
  private pending: string[] = [];
  private sending: Promise<void> | undefined;

  constructor(private readonly db: Database) {}

  /** Queues `payloads` for the World's channel; they are sent in the background. */
  publish(payloads: readonly string[]): void {
    if (payloads.length === 0) return;
    this.pending.push(...payloads);
    this.sending ??= this.send().finally(() => {
      this.sending = undefined;
    });
  }

  /** Resolves once everything published so far has been sent, or has failed to be. */
  async sent(): Promise<void> {
    while (this.sending !== undefined) await this.sending;
  }

  private async send(): Promise<void> {
    while (this.pending.length > 0) {
      const payloads = this.pending;
      this.pending = [];
      try {
        await this.db.query(publishText, [this.db.channel, payloads]);
      } catch {
        // Hints only: whoever waited for these falls back to its poll.
      }
    }
  }
}
