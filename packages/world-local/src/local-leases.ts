import { randomBytes } from 'node:crypto';
import type { DeliveryHandle } from '@cairn/core/world';
import type { StoredMessage } from './local-records.js';

/**
 * One message leased in this process: to a consumer's delivery, or to the writer that
 * queued it claimed (`EnqueueRequest.claim`). Only a settlement naming its token counts.
 */
export interface Lease {
  readonly token: string;
  readonly message: StoredMessage;
  /** The delivery attempt this lease is; a claim counts as its message's first. */
  readonly attempt: number;
  /** How long the message waits, once the lease has run out, before it is due again. */
  readonly lapseDelayMs: number;
  timer: NodeJS.Timeout | undefined;
  /** The consumer's side of a delivery, told to let go when the World closes. */
  delivery?: DeliveryHandle;
}

/**
 * The leases held in this process, by message id. Nothing of them is journalled: a restart
 * starts with none, so every message that was leased is due again at once (at-least-once),
 * and a token from before the restart matches nothing. Each lease runs on its own real-time
 * timer; when it runs out, `lapsed` hands the message back.
 */
export class Leases {
  private readonly held = new Map<string, Lease>();
  /** Random per World: a token minted before a reopen can never name a lease taken after it. */
  private readonly tokenPrefix = `lease_${randomBytes(8).toString('hex')}_`;
  private minted = 0;

  constructor(private readonly lapsed: (lease: Lease) => void) {}

  has(messageId: string): boolean {
    return this.held.has(messageId);
  }

  mintToken(): string {
    this.minted += 1;
    return `${this.tokenPrefix}${this.minted}`;
  }

  take(message: StoredMessage, token: string, attempt: number, leaseMs: number, lapseDelayMs: number): Lease {
    const lease: Lease = { token, message, attempt, lapseDelayMs, timer: undefined };
    this.arm(lease, leaseMs);
    this.held.set(message.messageId, lease);
    return lease;
  }

  /** Ends the lease on `messageId` if `token` still holds it, and returns it; else undefined. */
  end(messageId: string, token: string): Lease | undefined {
    const lease = this.held.get(messageId);
    if (lease?.token !== token) return undefined;
    clearTimeout(lease.timer);
    this.held.delete(messageId);
    return lease;
  }

  /** Moves the lease's end to `leaseMs` from now; false when `token` no longer holds it. */
  extend(messageId: string, token: string, leaseMs: number): boolean {
    const lease = this.held.get(messageId);
    if (lease?.token !== token) return false;
    this.arm(lease, leaseMs);
    return true;
  }

  /** Forgets every lease without handing its message back: the World is closing. */
  clear(): void {
    for (const lease of this.held.values()) {
      clearTimeout(lease.timer);
      lease.delivery?.abandon();
    }
    this.held.clear();
  }

  private arm(lease: Lease, leaseMs: number): void {
    clearTimeout(lease.timer);
    lease.timer = setTimeout(() => {
      if (this.held.get(lease.message.messageId) !== lease) return;
      this.held.delete(lease.message.messageId);
      this.lapsed(lease);
    }, leaseMs);
  }
}
