import { createHash } from 'node:crypto';

/**
 * The metadata key under which a run's trace context travels; defined here, with the
 * engine's other reserved names, because child runs inherit it.
 */
export const traceMetadataKey = 'cairn.trace';

/** Step names the engine reserves for child runs; user steps may not start with `cairn:`. */
export const childStepPrefix = 'cairn:child:';

/**
 * A child's run id: derived from the parent and the call site, so every replay of the
 * parent names the same child and never starts a second one. Hashed when it would be too long.
 */
export function childRunId(parentRunId: string, commandId: string): string {
  const plain = `${parentRunId}~${commandId}`;
  if (plain.length <= 256) return plain;
  return `child_${createHash('sha256').update(plain).digest('hex')}`;
}
