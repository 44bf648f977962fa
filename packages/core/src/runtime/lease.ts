/** A queue delivery's lease: how long it lasts, and how to renew it. */
export interface Lease {
  leaseMs: number;
  /** Resolves false once the lease is lost (expired and possibly handed to another consumer). */
  extend(): Promise<boolean>;
}

/** A pass found its delivery's lease lost: another worker may hold the run now; the wake is redelivered. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** Renews a delivery's lease every third of its length while a pass runs; `lost` aborts once it cannot. */
export function keepLease(lease: Lease | undefined): { lost: AbortSignal; stop(): void } {
  const lost = new AbortController();
  if (!lease) return { lost: lost.signal, stop: () => {} };
  const timer = setInterval(
    () => {
      lease.extend().then(
        (kept) => {
          if (!kept) lost.abort();
        },
        // A renewal that failed (the World is briefly unreachable) is tried again next time.
        () => {},
      );
    },
    Math.max(10, Math.floor(lease.leaseMs / 3)),
  );
  timer.unref();
  return { lost: lost.signal, stop: () => clearInterval(timer) };
}
