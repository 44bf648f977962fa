import { HookNotFoundError, RunTerminalError } from '@cairn/core';
import type { WorldEvent } from '@cairn/core/world';
import type { Harness } from '../harness.js';
import type { WaitSeen } from './audit.js';

/** Every resume the storms sent, by hook token, and what became of it. */
export class ResumeLedger {
  /** Payloads the World accepted, per token: each must be in that hook's log exactly once. */
  readonly accepted = new Map<string, string[]>();
  /** Refused because the hook was disposed or the run had ended: expected, counted. */
  refused = 0;
  /** Anything else a resume threw: a failure. */
  readonly unexpected: string[] = [];

  get acceptedCount(): number {
    let count = 0;
    for (const payloads of this.accepted.values()) count += payloads.length;
    return count;
  }
}

/**
 * When to fire resume bursts at a hook, as absolute wall-clock times, given the waits the
 * run has created so far (in creation order). Undefined while the deadline is not known
 * yet (its waits are not in the log); an empty list for a hook the shape never resumes.
 */
export type BurstPlan = (token: string, waits: readonly WaitSeen[]) => number[] | undefined;

/**
 * Follows one run's log as it grows (through `events.watch`, no polling) and, for each hook
 * it creates, fires the bursts the plan asks for: `burstSize` concurrent `resumeHook` calls
 * at each time. Resolves once the run has ended (or `signal` aborts) and every burst has
 * settled.
 */
export async function driveResumes(
  harness: Harness,
  runId: string,
  plan: BurstPlan,
  burstSize: number,
  ledger: ResumeLedger,
  signal: AbortSignal,
): Promise<void> {
  const { world, client } = harness;
  const waits: WaitSeen[] = [];
  const pending: string[] = [];
  const bursts: Promise<void>[] = [];
  const fire = async (token: string, burst: number) => {
    await Promise.all(
      Array.from({ length: burstSize }, async (_, slot) => {
        const payload = `b${burst}.${slot}`;
        try {
          // Aimed at a hook the run has created: a burst that arrives after its disposal
          // must be refused at once, not wait for a holder that will never come.
          await client.resumeHook(token, payload, { timeoutMs: 0 });
          const list = ledger.accepted.get(token) ?? [];
          list.push(payload);
          ledger.accepted.set(token, list);
        } catch (error) {
          if (HookNotFoundError.is(error) || RunTerminalError.is(error)) ledger.refused += 1;
          else ledger.unexpected.push(`resumeHook(${token}) threw ${String(error)}`);
        }
      }),
    );
  };
  const schedule = () => {
    for (let index = 0; index < pending.length; ) {
      const token = pending[index]!;
      const times = plan(token, waits);
      if (times === undefined) {
        index += 1;
        continue;
      }
      pending.splice(index, 1);
      times.forEach((at, burst) => {
        bursts.push(
          new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at - Date.now()))).then(() =>
            fire(token, burst),
          ),
        );
      });
    }
  };
  let seen = 0;
  let ended = false;
  while (!ended && !signal.aborted) {
    const page = await world.events.list(runId, { afterSeq: seen, limit: 1000 });
    for (const event of page.data as WorldEvent[]) {
      seen = event.seq;
      const body = event as WorldEvent & { correlationId?: string; eventData?: Record<string, unknown> };
      if (event.eventType === 'wait_created') {
        waits.push({
          id: body.correlationId ?? '',
          resumeAt: body.eventData?.resumeAt as number,
          createdSeq: event.seq,
        });
      } else if (event.eventType === 'hook_created') {
        pending.push(body.eventData?.token as string);
      } else if (
        event.eventType === 'run_completed' ||
        event.eventType === 'run_failed' ||
        event.eventType === 'run_cancelled'
      ) {
        ended = true;
      }
    }
    schedule();
    if (!ended && !page.hasMore) await world.events.watch(runId, seen, signal);
  }
  await Promise.all(bursts);
}
