import { randomUUID } from 'node:crypto';
import type { Store } from './store.js';

/** What an append learns about a token before it runs: our claim's nonce, or the run that holds it. */
export type TokenClaim = { n: string } | { r: string; h: string };

interface ClaimReply {
  nonce?: string;
  held?: { r: string; n: string };
  raw?: string;
}

/**
 * Hook tokens are unique across runs, and runs live in different partitions (different
 * cluster slots), so a token cannot be checked inside the append that creates the hook.
 * The protocol, each step atomic in its own slot:
 *
 * 1. Claim the token in the token's partition for the run (token-claim.lua): free, or
 *    already this run's, gives a nonce for the claim.
 * 2. The append (append.lua, the run's partition) creates the hook only if that claim's
 *    nonce was not revoked in the run's partition.
 * A claim held by another run is checked there (token-check.lua): a live hook holding the
 * token is a HookTokenConflictError; otherwise the check revokes the claim's nonce in that
 * run's partition *before* the claim is replaced (token-swap.lua). A crash after step 1
 * leaves a claim with no live hook, which the next claimant takes over this way; an
 * append of the old claimant still in flight is refused by the revocation and claims
 * again. So at most one run ever holds a live hook with a token.
 */
export class HookTokens {
  constructor(private readonly store: Store) {}

  /** `revoked`: the nonce of this run's claim that its last append was refused with (CLAIM_REVOKED). */
  async claim(token: string, runId: string, revoked?: string): Promise<TokenClaim> {
    const { keys } = this.store;
    const key = keys.tokenKey(token);
    for (let attempt = 1; ; attempt += 1) {
      const nonce = randomUUID();
      const reply = await this.store.script<ClaimReply>('token-claim', key, {
        key,
        runId,
        nonce,
        ...(revoked === undefined ? {} : { revoked }),
      });
      if (reply.nonce !== undefined) return { n: reply.nonce };
      const holder = reply.held!;
      const check = await this.checkHolder(holder.r, token, holder.n);
      if (check.live !== undefined) return { r: holder.r, h: check.live };
      const replacement = JSON.stringify({ r: runId, n: nonce });
      const swapped = await this.store.script<number>('token-swap', key, { key, expected: reply.raw, replacement });
      if (swapped === 1) return { n: nonce };
      if (attempt >= 20) throw new Error(`world-redis: could not claim hook token ${JSON.stringify(token)}`);
    }
  }

  private checkHolder(runId: string, token: string, nonce: string): Promise<{ live?: string; free?: boolean }> {
    const base = this.store.keys.runBase(runId);
    return this.store.script('token-check', `${base}:t:${runId}`, { base, runId, token, nonce });
  }

  /**
   * After an append released `token` (its hook was disposed or its run ended), removes the
   * run's claim the same safe way, so claims do not outlive their hooks. Best effort: a
   * claim left behind is taken over by the next claimant anyway.
   */
  async release(token: string, runId: string): Promise<void> {
    const key = this.store.keys.tokenKey(token);
    const client = await this.store.client();
    const raw = await client.get(key);
    if (raw === null) return;
    const holder = JSON.parse(raw) as { r: string; n: string };
    if (holder.r !== runId) return;
    const check = await this.checkHolder(runId, token, holder.n);
    if (check.live !== undefined) return;
    await this.store.script('token-swap', key, { key, expected: raw });
  }
}
