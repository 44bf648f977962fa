import { monotonicFactory } from 'ulid';
import type { Keys } from './keys.js';

const next = monotonicFactory();

/**
 * Message ids sort in the order this process minted them, even within one millisecond:
 * consumers break ties between equally due messages of different partitions by id, so
 * messages sent in order by one process come out in that order.
 */
export const newMessageId = () => `msg_${next()}`;

/**
 * A message id that hashes to `partition`, for an ungrouped message that lives there: a
 * claim on it (a delivery's, or its writer's) then finds the message from its id alone
 * (`Keys.claimPartition`). About one try per partition, each a hash of a short string.
 */
export function newMessageIdIn(keys: Keys, partition: number): string {
  for (;;) {
    const id = newMessageId();
    if (keys.partitionOf(id) === partition) return id;
  }
}
