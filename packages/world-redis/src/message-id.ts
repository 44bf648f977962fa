import { monotonicFactory } from 'ulid';

const next = monotonicFactory();

/**
 * Message ids sort in the order this process minted them, even within one millisecond:
 * consumers break ties between equally due messages of different partitions by id, so
 * messages sent in order by one process come out in that order.
 */
export const newMessageId = () => `msg_${next()}`;
