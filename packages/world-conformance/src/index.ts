import { describeBadInput } from './bad-input.js';
import { describeBounds } from './bounds.js';
import { describeClosing } from './closing.js';
import { describeCommitTime } from './commit-time.js';
import { describeEntityRules } from './entity-rules.js';
import { describeEvents } from './events.js';
import { describeFences } from './fences.js';
import type { ConformanceOptions } from './helpers.js';
import { describeLargeWrites } from './large-writes.js';
import { describeLifecycle } from './lifecycle.js';
import { describeOutbox } from './outbox.js';
import { describePagination } from './pagination.js';
import { describeQueueDelivery } from './queue.js';
import { describeQueueClaims } from './queue-claims.js';
import { describeQueueDeliveryClaims } from './queue-delivery-claims.js';
import { describeQueueGroups } from './queue-groups.js';
import { describeQueueLeases } from './queue-lease.js';
import { describeRestart } from './restart.js';
import { describeRunWaiting } from './run-waiting.js';
import { describeSharedStore } from './shared-store.js';
import { describeStreams } from './streams.js';
import { describeText } from './text.js';
import { describeViews } from './views.js';

export type { ConformanceOptions, ConformanceSection } from './helpers.js';

/**
 * Registers the whole World contract suite (the entity rules, fences, views, queue, streams,
 * errors and lifecycle) with vitest. Call it at the top level of a test file:
 *
 * ```ts
 * describeWorldConformance({ name: 'my-world', createWorld: () => createMyWorld() });
 * ```
 *
 * Every test gets its own World from `createWorld` and closes it when done. Sections listed
 * in `skip` still appear in the report, as skipped tests whose titles give the reason; tests
 * that a World's `capabilities` rule out skip themselves and say why.
 */
export function describeWorldConformance(options: ConformanceOptions): void {
  describeEvents(options);
  describeEntityRules(options);
  describeViews(options);
  describeRunWaiting(options);
  describeFences(options);
  describeOutbox(options);
  describeCommitTime(options);
  describePagination(options);
  describeQueueDelivery(options);
  describeQueueGroups(options);
  describeQueueLeases(options);
  describeQueueClaims(options);
  describeQueueDeliveryClaims(options);
  describeStreams(options);
  describeBadInput(options);
  describeText(options);
  describeBounds(options);
  describeLargeWrites(options);
  describeLifecycle(options);
  describeClosing(options);
  describeRestart(options);
  describeSharedStore(options);
}
